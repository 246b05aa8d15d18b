"""IAM's repositories on every metadata backend: users, groups, keys, managed and inline policies, attachments."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modelbay.store.metadata import MetadataStore, RecordExists
from modelbay.store.metadata.iam import EntityInUse, IamEntityNotFound, KeyUse, LimitReached
from modelbay.store.metadata.iam_policies import GrantedPolicy, Holder
from tests.helpers import T0

ACCOUNT = "arn:aws:iam::000000000000"
AWS_READ_ONLY = "arn:aws:iam::aws:policy/AmazonSageMakerReadOnly"
DOC = '{"Version": "2012-10-17", "Statement": []}'


def _user(store: MetadataStore, name: str, path: str = "/") -> None:
    store.iam.create_user(name, path, f"{ACCOUNT}:user{path}{name}", f"AIDA{name.upper():0<17}"[:21])


def _group(store: MetadataStore, name: str) -> None:
    store.iam.create_group(name, "/", f"{ACCOUNT}:group/{name}", f"AGPA{name.upper():0<17}"[:21])


def _policy(store: MetadataStore, name: str, document: str = DOC) -> str:
    arn = f"{ACCOUNT}:policy/{name}"
    store.iam_policies.create_policy(name, "/", arn, f"ANPA{name.upper():0<17}"[:21], document)
    return arn


def test_user_names_are_unique_and_found_regardless_of_case(store: MetadataStore) -> None:
    _user(store, "Alice", "/team/")
    with pytest.raises(RecordExists):
        _user(store, "ALICE")
    found = store.iam.user("alice")
    assert found is not None
    assert (found.name, found.path, found.arn) == ("Alice", "/team/", f"{ACCOUNT}:user/team/Alice")
    _user(store, "bob")
    assert [user.name for user in store.iam.users()] == ["Alice", "bob"]
    assert [user.name for user in store.iam.users("/team/")] == ["Alice"]


def test_renaming_a_user_checks_the_new_name(store: MetadataStore) -> None:
    _user(store, "a")
    _user(store, "b")
    with pytest.raises(RecordExists):
        store.iam.update_user("a", "B", "/", f"{ACCOUNT}:user/B")
    renamed = store.iam.update_user("a", "A", "/x/", f"{ACCOUNT}:user/x/A")  # the same name in another case
    assert (renamed.name, renamed.path) == ("A", "/x/") and store.iam.user("a") == renamed


def test_tags_merge_regardless_of_key_case_within_the_limit(store: MetadataStore) -> None:
    _user(store, "u")
    store.iam.set_user_tags("u", [("team", "a"), ("cost", "1")], max_tags=3)
    assert store.iam.set_user_tags("u", [("Team", "b")], max_tags=3).tags == {"Team": "b", "cost": "1"}
    with pytest.raises(LimitReached):
        store.iam.set_user_tags("u", [("x", "1"), ("y", "2")], max_tags=3)
    assert store.iam.remove_user_tags("u", ["TEAM", "absent"]).tags == {"cost": "1"}


def test_a_user_with_keys_groups_or_policies_is_not_deleted(store: MetadataStore) -> None:
    _user(store, "u")
    _group(store, "g")
    store.iam.create_access_key("u", "AKIAONE", b"sealed", max_keys=2)
    store.iam.add_member("g", "u", max_groups=10)
    store.iam_policies.put_inline("user", "u", "p", DOC)
    store.iam_policies.attach("user", "u", AWS_READ_ONLY, max_policies=10)
    undoes: tuple[tuple[str, Callable[[], None]], ...] = (
        ("access keys", lambda: store.iam.delete_access_key("u", "AKIAONE")),
        ("inline policies", lambda: store.iam_policies.delete_inline("user", "u", "p")),
        ("attached policies", lambda: store.iam_policies.detach("user", "u", AWS_READ_ONLY)),
        ("groups", lambda: store.iam.remove_member("g", "u")))
    for what, undo in undoes:
        with pytest.raises(EntityInUse) as refused:
            store.iam.delete_user("u")
        assert refused.value.what == what
        undo()
    store.iam.delete_user("U")
    assert store.iam.user("u") is None


def test_group_members(store: MetadataStore) -> None:
    for name in ("b", "a"):
        _user(store, name)
    _group(store, "devs")
    _group(store, "ops")
    for group, user in (("devs", "b"), ("devs", "a"), ("ops", "a"), ("devs", "a")):  # the second add changes nothing
        store.iam.add_member(group, user, max_groups=2)
    devs, members = store.iam.members("DEVS")
    assert devs.name == "devs" and [user.name for user in members] == ["a", "b"]
    assert [group.name for group in store.iam.groups_of("a")] == ["devs", "ops"]
    _group(store, "third")
    with pytest.raises(LimitReached):
        store.iam.add_member("third", "a", max_groups=2)
    with pytest.raises(EntityInUse):
        store.iam.delete_group("ops")
    store.iam.remove_member("ops", "a")
    with pytest.raises(IamEntityNotFound) as missing:
        store.iam.remove_member("ops", "a")
    assert missing.value.kind == "membership"
    store.iam.delete_group("ops")
    assert store.iam.group("ops") is None


def test_access_keys(store: MetadataStore) -> None:
    _user(store, "u")
    _user(store, "other")
    store.iam.create_access_key("u", "AKIA1", b"s1", max_keys=2)
    store.iam.create_access_key("u", "AKIA2", b"s2", max_keys=2)
    with pytest.raises(LimitReached):
        store.iam.create_access_key("u", "AKIA3", b"s3", max_keys=2)
    found = store.iam.find_access_key("AKIA2")
    assert found is not None and (found.user_name, found.status, found.sealed_secret) == ("u", "Active", b"s2")
    assert store.iam.set_access_key_status("U", "AKIA1", "Inactive").status == "Inactive"
    assert [key.status for key in store.iam.access_keys("u")] == ["Inactive", "Active"]
    with pytest.raises(IamEntityNotFound):
        store.iam.delete_access_key("other", "AKIA1")  # not that user's key
    used = KeyUse(T0, "sagemaker", "eu-west-1")
    store.iam.record_key_use("AKIA1", used)
    store.iam.record_key_use("AKIA1", KeyUse(T0.replace(year=2000), "s3", "us-east-1"))  # an older use loses
    key = store.iam.find_access_key("AKIA1")
    assert key is not None and key.last_used == used
    assert store.iam.find_access_key("AKIA9") is None


def test_policy_versions(store: MetadataStore) -> None:
    arn = _policy(store, "p", "v1 text")
    with pytest.raises(RecordExists):
        _policy(store, "P")
    for number in range(2, 6):
        store.iam_policies.create_version(arn, f"v{number} text", set_as_default=number == 3, max_versions=5)
    with pytest.raises(LimitReached):
        store.iam_policies.create_version(arn, "v6 text", set_as_default=False, max_versions=5)
    assert [(v.version_id, v.is_default) for v in store.iam_policies.versions(arn)] == [
        ("v5", False), ("v4", False), ("v3", True), ("v2", False), ("v1", False)]
    with pytest.raises(EntityInUse):
        store.iam_policies.delete_version(arn, "v3")
    store.iam_policies.delete_version(arn, "v5")
    store.iam_policies.create_version(arn, "v6 text", set_as_default=True, max_versions=5)  # numbers are not reused
    policy = store.iam_policies.policy(arn)
    assert policy is not None and policy.default_version == "v6"
    assert store.iam_policies.version(arn, "v6").document == "v6 text"
    for missing in ("v5", "6", "vx"):
        with pytest.raises(IamEntityNotFound):
            store.iam_policies.version(arn, missing)


def test_a_policy_is_deleted_only_alone(store: MetadataStore) -> None:
    arn = _policy(store, "p")
    store.iam_policies.create_version(arn, DOC, set_as_default=True, max_versions=5)
    _user(store, "u")
    store.iam_policies.attach("user", "u", arn, max_policies=10)
    undoes: tuple[tuple[str, Callable[[], None]], ...] = (
        ("attachments", lambda: store.iam_policies.detach("user", "u", arn)),
        ("versions", lambda: store.iam_policies.delete_version(arn, "v1")))
    for what, undo in undoes:
        with pytest.raises(EntityInUse) as refused:
            store.iam_policies.delete_policy(arn)
        assert refused.value.what == what
        undo()
    store.iam_policies.delete_policy(arn)
    assert store.iam_policies.policy(arn) is None and store.iam_policies.policies() == []


def test_attachments(store: MetadataStore) -> None:
    arn = _policy(store, "p")
    _user(store, "u")
    _group(store, "g")
    store.roles.create("r", f"{ACCOUNT}:role/r", {"Path": "/", "RoleId": "AROAR"})
    for kind, name in (("user", "u"), ("group", "g"), ("role", "r"), ("user", "u")):
        store.iam_policies.attach(kind, name, arn, max_policies=2)
    store.iam_policies.attach("user", "u", AWS_READ_ONLY, max_policies=2)  # an AWS managed policy has no row
    with pytest.raises(LimitReached):
        store.iam_policies.attach("user", "u", "arn:aws:iam::aws:policy/AdministratorAccess", max_policies=2)
    with pytest.raises(IamEntityNotFound) as unknown:
        store.iam_policies.attach("group", "g", f"{ACCOUNT}:policy/none", max_policies=2)
    assert unknown.value.kind == "policy"
    assert store.iam_policies.attached("user", "u") == [arn, AWS_READ_ONLY]
    assert store.iam_policies.attachment_counts() == {arn: 3, AWS_READ_ONLY: 1}
    assert [policy.attachment_count for policy in store.iam_policies.policies()] == [3]
    assert store.iam_policies.holders(arn) == [Holder("group", "g", "/", "AGPAG0000000000000000"[:21]),
                                               Holder("role", "r", "/", "AROAR"),
                                               Holder("user", "u", "/", "AIDAU0000000000000000"[:21])]
    with pytest.raises(EntityInUse):
        store.iam_policies.delete_role("r")
    store.iam_policies.detach("role", "r", arn)
    with pytest.raises(IamEntityNotFound):
        store.iam_policies.detach("role", "r", arn)
    store.iam_policies.delete_role("r")
    assert store.roles.get("r") is None


def test_inline_policies(store: MetadataStore) -> None:
    _group(store, "g")
    store.iam_policies.put_inline("group", "g", "b", "one")
    store.iam_policies.put_inline("group", "g", "a", "two")
    store.iam_policies.put_inline("group", "g", "b", "three")  # replaces
    assert store.iam_policies.inline_names("group", "g") == ["a", "b"]
    assert store.iam_policies.inline("group", "G", "b") == "three"
    store.iam_policies.delete_inline("group", "g", "b")
    with pytest.raises(IamEntityNotFound) as missing:
        store.iam_policies.inline("group", "g", "b")
    assert missing.value.kind == "group policy"
    with pytest.raises(IamEntityNotFound):
        store.iam_policies.put_inline("role", "none", "p", "x")


def test_granted_gathers_a_users_own_and_its_groups_policies(store: MetadataStore) -> None:
    arn = _policy(store, "p", "first")
    store.iam_policies.create_version(arn, "default", set_as_default=True, max_versions=5)
    _user(store, "u")
    _group(store, "g")
    store.iam.add_member("g", "u", max_groups=10)
    store.iam_policies.put_inline("user", "u", "mine", "user doc")
    store.iam_policies.put_inline("group", "g", "ours", "group doc")
    store.iam_policies.attach("group", "g", arn, max_policies=10)
    store.iam_policies.attach("user", "u", arn, max_policies=10)
    store.iam_policies.attach("group", "g", AWS_READ_ONLY, max_policies=10)
    assert store.iam_policies.granted("user", "U") == [
        GrantedPolicy("user", "u", "mine", "user doc"), GrantedPolicy("group", "g", "ours", "group doc"),
        GrantedPolicy("managed", "", arn, "default"), GrantedPolicy("managed", "", AWS_READ_ONLY, None)]
    assert store.iam_policies.granted("user", "nobody") is None
    assert store.iam_policies.granted("role", "nobody") is None


def test_change_role_is_atomic_and_may_refuse(store: MetadataStore) -> None:
    store.roles.create("r", f"{ACCOUNT}:role/r", {"Path": "/", "RoleId": "AROAR"})
    changed = store.iam_policies.change_role("r", lambda request: request | {"Description": "new"})
    assert changed.request["Description"] == "new"

    def refuse(_: dict[str, object]) -> dict[str, object]:
        raise ValueError("no")

    with pytest.raises(ValueError):
        store.iam_policies.change_role("r", refuse)
    role = store.roles.get("r")
    assert role is not None and role.request == {"Path": "/", "RoleId": "AROAR", "Description": "new"}
    with pytest.raises(IamEntityNotFound):
        store.iam_policies.change_role("none", refuse)
