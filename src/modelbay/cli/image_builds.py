"""`modelbay images build`, `base` and `mirror`: images from a Dockerfile, built with podman on this machine and
pushed to a server's registry (its ECR), also where Docker Hub cannot be reached.

The FROM lines' Docker Hub images that modelbay builds from Debian's packages (base_images.py: `debian`,
`python`, `ubuntu`) are pushed to the server as `library/<name>:<tag>` when it lacks them, and the build runs with a
registries.conf (`registries_conf`) whose mirror entries send `docker.io/library/<name>` there: the same pattern as
an air-gapped site's mirror, so a Dockerfile builds unchanged. podman reaches the server's registry under
`<host:port>/<region>/` (api/registry.py), logged in with an ECR authorization token written to an auth file of
the command's own (containers-auth.json(5)), never the user's. pip inside a build reaches the indexes this
machine's pip uses and trusts its CA bundle, mounted for the build only (pip_in_builds.py).
"""

from __future__ import annotations

import collections
import contextlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer

from modelbay.base_images import BASE_NAMES, BaseImage, base_image, build_base_image, from_images
from modelbay.cli.commands import aws_client
from modelbay.cli.output import fail, output, report
from modelbay.config import Settings
from modelbay.pip_in_builds import PipConfigError, pip_volumes
from modelbay.podman_engine import PodmanError, podman_env, require_podman
from modelbay.sdk import resolve_url
from modelbay.user_files import write_text

_TAIL_LINES = 3


@dataclass(frozen=True)
class Registry:
    """A server's registry as podman reaches it: `host` (`127.0.0.1:7070`), under the `region`'s path."""

    host: str
    region: str
    tls_verify: bool

    def location(self, repository: str) -> str:
        return f"{self.host}/{self.region}/{repository}"

    @property
    def tls(self) -> str:
        return f"--tls-verify={str(self.tls_verify).lower()}"


def registries_conf(registry: Registry) -> str:
    """A registries.conf whose mirror entries resolve the base images FROM lines name to the server's registry."""
    header = (f"# modelbay's base images for FROM lines, from {registry.host} (region {registry.region}).\n"
              "# Use: export CONTAINERS_REGISTRIES_CONF=<this file>, and log in first:\n"
              f"#   aws ecr get-login-password | podman login {registry.tls} --username AWS --password-stdin "
              f"{registry.host}\n"
              'unqualified-search-registries = ["docker.io"]\n')
    entries = [f'\n[[registry]]\nprefix = "docker.io/library/{name}"\nlocation = "docker.io/library/{name}"\n'
               f'[[registry.mirror]]\nlocation = "{registry.location(f"library/{name}")}"\n'
               f"insecure = {str(not registry.tls_verify).lower()}\n" for name in BASE_NAMES]
    return header + "".join(entries)


def image_name(reference: str) -> tuple[str, str]:
    """`<repository>[:<tag>]` as (repository, tag), tag `latest` when none is given."""
    repository, _, tag = reference.partition(":")  # ECR's repository names hold no colon
    return repository, tag or "latest"


def build(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., help="The build context: the directory the Dockerfile's COPY lines read."),
    name: str = typer.Option(..., "--tag", "-t", metavar="REPOSITORY[:TAG]",
                             help="Repository (created if missing) and tag (default latest) to push to."),
    file: Path | None = typer.Option(None, "--file", "-f",
                                     help="The Dockerfile.", show_default="DIRECTORY/Dockerfile, else Containerfile"),
    build_args: list[str] = typer.Option([], "--build-arg", metavar="NAME=VALUE", help="A build argument (ARG)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step again, not from podman's layer cache."),
) -> None:
    """Build an image from a Dockerfile with podman, push it to the server's registry (ECR) and print the image URI
    to use as TrainingImage or Estimator(image_uri=...). Base images that FROM lines name (debian:*, python:*,
    ubuntu:*) are built from Debian's packages and pushed to the server first; podman's output shows the progress."""
    dockerfile = _dockerfile(directory, file)
    arguments = dict(argument.partition("=")[::2] for argument in build_args)
    ecr = aws_client(ctx, "ecr")
    repository, tag = image_name(name)
    uri = f"{repository_uri(ecr, repository)}:{tag}"
    with _podman_errors(), _logged_in(ctx, ecr) as (registry, auth):
        bases = [found for found in map(base_image, from_images(dockerfile.read_text(), arguments)) if found]
        for base in bases:
            _publish(ecr, registry, auth, base)
        with tempfile.TemporaryDirectory(prefix="modelbay-build-") as work:
            mirror = Path(work) / "registries.conf"
            mirror.write_text(registries_conf(registry))
            _stream(["build", "--authfile", str(auth), "--file", str(dockerfile), "--tag", uri,
                     *[f"--build-arg={argument}" for argument in build_args], *(["--no-cache"] if no_cache else []),
                     *pip_volumes(Path(work)), str(directory)],
                    {"CONTAINERS_REGISTRIES_CONF": str(mirror)})
        digest = _push(registry, auth, uri, registry.location(f"{repository}:{tag}"))
    out = output(ctx)
    if out.as_json:
        print(json.dumps({"imageUri": uri, "imageDigest": digest}))
    else:
        _say(f"pushed {uri} ({digest})")
        print(uri)  # print, not rich: a long URI must stay on one line for `$(modelbay images build ...)`


def base(
    ctx: typer.Context,
    references: list[str] = typer.Argument(..., metavar="IMAGE...",
                                           help="Images as FROM lines name them: debian, python or ubuntu with a tag."),
) -> None:
    """Build base images from Debian's packages (once per machine) and push them to the server's registry as
    library/<name>:<tag>, where `modelbay images mirror`'s registries.conf sends FROM lines."""
    bases = [base_image(reference) for reference in references]
    unknown = [reference for reference, found in zip(references, bases, strict=True) if found is None]
    if unknown:
        fail(f"modelbay builds no base image {unknown[0]}: it builds {', '.join(BASE_NAMES)} (Docker Hub's "
             "library images) from Debian's packages")
    ecr = aws_client(ctx, "ecr")
    with _podman_errors(), _logged_in(ctx, ecr) as (registry, auth):
        pushed = [_publish(ecr, registry, auth, found, force=True) for found in bases if found]
    output(ctx).result({"images": pushed}, "\n".join(pushed))


def mirror(
    ctx: typer.Context,
    path: Path | None = typer.Option(None, "--output", "-o", help="Write it to this file.", show_default="stdout"),
) -> None:
    """Print the podman registries.conf that resolves FROM debian:*, python:* and ubuntu:* to the server's base
    images (see `modelbay images base`): point CONTAINERS_REGISTRIES_CONF at it and `podman build` unchanged."""
    text = registries_conf(_registry(ctx, aws_client(ctx, "ecr")))
    if path is None:
        print(text, end="")
    else:
        write_text(path.expanduser(), text)
        _say(f"wrote {path}: export CONTAINERS_REGISTRIES_CONF={path.expanduser().resolve()}")


def repository_uri(ecr: Any, name: str) -> str:
    """The repository's URI, creating the repository if it does not exist."""
    try:
        return str(ecr.create_repository(repositoryName=name)["repository"]["repositoryUri"])
    except ecr.exceptions.RepositoryAlreadyExistsException:
        return str(ecr.describe_repositories(repositoryNames=[name])["repositories"][0]["repositoryUri"])


def _dockerfile(directory: Path, file: Path | None) -> Path:
    if not directory.is_dir():
        fail(f"{directory} is not a directory: the build context must be one")
    candidates = [file] if file is not None else [directory / "Dockerfile", directory / "Containerfile"]
    found = next((candidate for candidate in candidates if candidate.is_file()), None)
    if found is None:
        fail(f"{candidates[0]} is not a file" if file else f"{directory} holds no Dockerfile or Containerfile")
    return found


def _registry(ctx: typer.Context, ecr: Any) -> Registry:
    url = urlsplit(resolve_url(ctx.obj["url"]))
    return Registry(url.netloc, ecr.meta.region_name, url.scheme == "https")


@contextlib.contextmanager
def _logged_in(ctx: typer.Context, ecr: Any) -> Iterator[tuple[Registry, Path]]:
    """The server's registry, and an auth file of our own holding an ECR authorization token for it."""
    require_podman()
    registry = _registry(ctx, ecr)
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]  # base64 of AWS:<password>
    with tempfile.TemporaryDirectory(prefix="modelbay-auth-") as work:
        auth = Path(work) / "auth.json"
        auth.write_text(json.dumps({"auths": {registry.host: {"auth": token}}}))
        yield registry, auth


def _publish(ecr: Any, registry: Registry, auth: Path, found: BaseImage, force: bool = False) -> str:
    """Push `found` to the server's registry unless it is there already (or `force`); answer where it is."""
    destination = registry.location(f"{found.repository}:{found.tag}")
    if force or not _in_registry(ecr, found.repository, found.tag):
        _say(f"{found.name}:{found.tag}: building it from Debian's packages if this machine lacks it "
             "(once per machine), then pushing it to the server")
        for warning in build_base_image(found, _config_dir()):
            _say(f"warning: {warning}")
        repository_uri(ecr, found.repository)
        _push(registry, auth, found.reference, destination)
    return destination


def _in_registry(ecr: Any, repository: str, tag: str) -> bool:
    try:
        ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except (ecr.exceptions.RepositoryNotFoundException, ecr.exceptions.ImageNotFoundException):
        return False
    return True


def _push(registry: Registry, auth: Path, source: str, destination: str) -> str:
    """Push the local image `source` to `destination` in the server's registry; answer its digest."""
    with tempfile.TemporaryDirectory(prefix="modelbay-push-") as work:
        digest_file = Path(work) / "digest"
        _stream(["push", registry.tls, "--authfile", str(auth), "--digestfile", str(digest_file), source,
                 f"docker://{destination}"])
        return digest_file.read_text().strip()


def _stream(args: Sequence[str], env: dict[str, str] | None = None) -> None:
    """Run podman with its output shown on stderr as it comes (progress); raise PodmanError with its last words."""
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    with subprocess.Popen(["podman", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**podman_env(_config_dir()), **(env or {})}) as process:
        assert process.stdout is not None  # piped above
        for line in process.stdout:
            sys.stderr.write(line)
            if line.strip():
                tail.append(line.strip())
    if process.returncode != 0:
        raise PodmanError(f"podman {args[0]} failed (exit code {process.returncode}): {' | '.join(tail)}")


def _config_dir() -> Path:
    return Settings.from_env().podman_dir


@contextlib.contextmanager
def _podman_errors() -> Iterator[None]:
    try:
        yield
    except (PodmanError, PipConfigError) as error:
        report(str(error))
        raise typer.Exit(1) from None


def _say(message: str) -> None:
    """Progress and warnings go to stderr: stdout holds only the answer (`$(modelbay images build ...)`)."""
    print(message, file=sys.stderr, flush=True)
