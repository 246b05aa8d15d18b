"""HAProxy as the data plane of plain invocations: its configuration, its runtime API, and its log.

The API port is HAProxy's. A request HAProxy may answer alone goes straight to a model server; every other request
goes to modelbay's own front door, which listens on a loopback port behind it. HAProxy answers alone a
`POST /endpoints/<name>/invocations` with no query, a body of at most sagemaker-runtime's size framed by a
Content-Length, unsigned or signed for sagemaker-runtime, and of sagemaker-runtime's headers only those a plain call
has (PLAIN_MEMBERS), each within its model's length and ASCII; and only if the map ROUTES routes it:

- Key `<region>/<endpoint>/<bucket>`, bucket a random integer below BUCKETS: the slot (a backend) of the variant that
  bucket falls to. A variant of weight w of an endpoint of total weight W has round(BUCKETS·w/W) of the buckets (the
  largest remainders get the rest), so a variant is picked in proportion to its weight, to 1/BUCKETS.
- Key `<region>/<endpoint>/=<variant>` (TargetVariant): that variant's slot.

A slot's servers are the variant's instances, picked by least connections (HAProxy's leastconn: the fewest requests
in flight, the same rule as the router's). A connection that fails is tried once more on another instance
(`retry-on conn-failure`, `redispatch`), and its server is out of rotation at once (`on-error mark-down`; leastconn
would pick the dead one again, having nothing in flight), until the controller replaces the instance: the router's
rule for a request that cannot have reached the model.

The model gets, and the caller gets back, the headers they would through the front door (not the caller's
credentials); the answer names the variant in x-Amzn-Invoked-Production-Variant. An answer other than a 2XX becomes
sagemaker-runtime's ModelError (424, the model's words cut to fit), and an instance that cannot be reached or does
not answer in time becomes ServiceUnavailable or ModelError, as the front door answers them. Each request HAProxy
answers is one line of its log (`LOG_FORMAT`), which it buffers in a ring and sends in batches over TCP: what
CloudWatch and Prometheus count.

The slots are made once, SLOTS of them, each with SERVERS_PER_SLOT servers out of rotation (HAProxy keeps idle
connections to servers of its configuration, not to those added at run time); the runtime API gives servers the
instances' addresses, puts them in or out of rotation, and swaps the maps whole (`prepare map`, `add map`,
`commit map`): a request sees the old routes or the new ones, never a mix.
"""

from __future__ import annotations

import functools
import math
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import botocore.session

SLOTS = 128  # variants HAProxy can serve at once; an endpoint beyond them is served by the front door
SERVERS_PER_SLOT = 16  # instances of a variant HAProxy can serve; a variant of more is served by the front door
BUCKETS = 1000  # the resolution of variant weights on HAProxy's routes
MAX_BODY_BYTES = 6 * 1024 * 1024  # sagemaker-runtime's InvokeEndpoint Body
MAX_MESSAGE_CHARS = 2048  # ModelError's OriginalMessage and Message, in sagemaker-runtime's model
PLAIN_MEMBERS = ("ContentType", "Accept", "CustomAttributes", "TargetVariant")  # the headers a plain call may have
# what passes between the caller and the model, as upstream.py and the front door's answer pass it
FORWARDED_REQUEST_HEADERS = ("host", "content-length", "content-type", "accept", "x-amzn-sagemaker-custom-attributes")
FORWARDED_RESPONSE_HEADERS = ("content-length", "content-type", "x-amzn-sagemaker-custom-attributes", "connection")
ROUTES, VARIANTS = "routes.map", "variants.map"  # route key → slot; slot → variant name
LOG_BATCH_S = 0.05  # how often the log is read: its lines are the second's metrics, which are written each second
LOG_RING, LOG_RING_BYTES = "invocations", 32 * 1024 * 1024  # the log's buffer: ~300,000 lines the reader is behind
# An invocation's line (HAProxy's own messages go to the same socket): region endpoint slot model-status request-µs
# model-called-µs model-answered-µs ended-µs, after the mark
INVOCATION_MARK = "invocation"
LOG_FORMAT = (f"{INVOCATION_MARK} %[var(txn.region)] %[var(txn.endpoint)] %b %[var(txn.model_status)] "
              "%[var(txn.t_req)] %[var(txn.t_called)] %[var(txn.t_answered)] %[date(0,us)]")


@dataclass(frozen=True)
class Limits:
    """How long HAProxy waits: for a model's answer, for a client's next request on an idle connection, for a
    request's head."""

    model_timeout_s: float
    idle_timeout_s: float
    head_timeout_s: float


def slot_name(index: int) -> str:
    return f"slot{index}"


def slot_servers() -> list[str]:
    """The servers of every slot: made out of rotation, each given an instance's address when it serves one (static
    servers, as HAProxy keeps idle connections to those only: not to servers added at run time)."""
    return [f"i{index}" for index in range(SERVERS_PER_SLOT)]


@functools.cache
def checked_headers() -> tuple[tuple[str, int | None, bool], ...]:
    """sagemaker-runtime's InvokeEndpoint headers from botocore's model: (header, max length or None, ASCII only)
    for those a plain call may have; (header, None, False) for those it may not. Read once a process (the direct data
    plane's leases take them on the event loop)."""
    shape = botocore.session.get_session().get_service_model("sagemaker-runtime").operation_model(
        "InvokeEndpoint").input_shape
    found = []
    for name, member in shape.members.items():
        if member.serialization.get("location") != "header":
            continue
        header = member.serialization["name"].lower()
        if name in PLAIN_MEMBERS:
            found.append((header, member.metadata.get("max"), member.metadata.get("pattern") == r"\p{ASCII}*"))
        else:
            found.append((header, None, False))
    return tuple(found)


def configuration(listen_fd: int, front_door_port: int, log_port: int, run_dir: Path, account: str, home_region: str,
                  limits: Limits, threads: int) -> str:
    """haproxy.cfg: the frontend on the inherited socket `listen_fd`, the front door at 127.0.0.1:front_door_port,
    the log sent to 127.0.0.1:log_port, the slots empty, the maps and the admin socket in `run_dir`."""
    refused = []
    for header, max_length, ascii_only in checked_headers():
        if max_length is None and not ascii_only:
            refused.append(f"req.hdr_cnt({header}) gt 0")
            continue
        if max_length is not None:
            refused.append(f"req.fhdr({header}),length gt {max_length}")
        if ascii_only:
            refused.append(f"req.fhdr({header}) -m reg [^[:ascii:]]")
    group = "/aws/sagemaker/Endpoints/%[var(txn.endpoint)]"
    see = (f"See https://%[var(txn.region)].console.aws.amazon.com/cloudwatch/home?region=%[var(txn.region)]"
           f"#logEventViewer:group={group} in account {account} for more information.")
    log_stream = f"arn:aws:logs:%[var(txn.region)]:{account}:log-group:{group}"
    timed_out = "Your invocation timed out while waiting for a response from container primary."
    # JSON bodies as log-format strings: %[...] is what HAProxy fills in, already JSON-escaped where it is free text
    model_error = ('{"message":"Received %[var(txn.kind)] error (%[var(txn.model_status)]) from primary with message '
                   f'\\"%[var(txn.said)]\\". {see}","OriginalStatusCode":%[var(txn.model_status)],'
                   f'"OriginalMessage":"%[var(txn.original)]","LogStreamArn":"{log_stream}"}}')
    unreachable = ('{"message":"No instance of production variant %[var(txn.variant)] of endpoint %[var(txn.endpoint)] '
                   'could be reached; please try again."}')
    model_timed_out = (f'{{"message":"Received server error (0) from primary with message \\"{timed_out}\\". {see}",'
                       f'"OriginalStatusCode":0,"OriginalMessage":"{timed_out}","LogStreamArn":"{log_stream}"}}')
    routes, variants = run_dir / ROUTES, run_dir / VARIANTS
    lines = [
        "global",
        f"    nbthread {threads}",
        f"    stats socket {run_dir / 'admin.sock'} mode 600 level admin",
        f"    log ring@{LOG_RING} len 4096 format raw local0",
        "    tune.bufsize 32768",
        f"ring {LOG_RING}",  # the log, buffered and sent in batches (a datagram per line would cost the reader dear)
        "    format raw",
        "    maxlen 4096",
        f"    size {LOG_RING_BYTES}",
        "    timeout connect 5s",
        "    timeout server 60s",
        f"    server reader 127.0.0.1:{log_port} log-proto octet-count",
        "defaults",
        "    mode http",
        "    log global",
        f'    log-format "{LOG_FORMAT}"',
        "    timeout connect 5s",
        f"    timeout client {round(limits.idle_timeout_s * 1000)}ms",
        f"    timeout http-keep-alive {round(limits.idle_timeout_s * 1000)}ms",
        f"    timeout http-request {round(limits.head_timeout_s * 1000)}ms",
        f"    timeout server {round(limits.model_timeout_s * 1000)}ms",
        "    balance leastconn",
        "    http-reuse always",  # model servers keep no state per connection
        "    retries 1",
        "    option redispatch 1",
        "    retry-on conn-failure",
        "frontend api",
        f"    bind fd@{listen_fd}",
        "    acl post method POST",
        r"    acl invocation path_reg ^/endpoints/[a-zA-Z0-9](-*[a-zA-Z0-9])*/invocations$",
        "    acl refused query -m found",
        "    acl refused req.hdr_cnt(transfer-encoding) gt 0",
        f"    acl refused req.hdr(content-length) -m int gt {MAX_BODY_BYTES}",
        "    acl signed req.hdr_cnt(authorization) gt 0",
        "    acl runtime_scope req.hdr(authorization,1),field(4,/) -m str sagemaker",
        *(f"    acl refused {condition}" for condition in refused),
        "    acl targeted req.hdr_cnt(x-amzn-sagemaker-target-variant) gt 0",
        "    http-request set-var(txn.region) req.hdr(authorization,1),field(3,/) if post invocation signed "
        "runtime_scope !refused",
        f"    http-request set-var(txn.region) str({home_region}) if post invocation !signed !refused",
        "    http-request set-var(txn.endpoint) path,field(3,/) if { var(txn.region) -m found }",
        "    http-request set-var(txn.target) req.hdr(x-amzn-sagemaker-target-variant) if targeted",
        "    http-request set-var(txn.key) var(txn.region),concat(/,txn.endpoint),concat(/=,txn.target) "
        "if { var(txn.endpoint) -m found } targeted",
        f"    http-request set-var(txn.bucket) rand({BUCKETS}) if {{ var(txn.endpoint) -m found }} !targeted",
        "    http-request set-var(txn.key) var(txn.region),concat(/,txn.endpoint),concat(/,txn.bucket) "
        "if { var(txn.endpoint) -m found } !targeted",
        f"    http-request set-var(txn.slot) var(txn.key),map({routes}) if {{ var(txn.key) -m found }}",
        "    http-request set-path /invocations if { var(txn.slot) -m found }",
        f"    http-request set-var(txn.variant) var(txn.slot),map({variants}) if {{ var(txn.slot) -m found }}",
        "    http-request set-var(txn.t_req) date(0,us) if { var(txn.slot) -m found }",
        "    http-request set-var(txn.model_status) int(0) if { var(txn.slot) -m found }",
        "    http-request set-log-level silent if !{ var(txn.slot) -m found }",
        "    use_backend %[var(txn.slot)] if { var(txn.slot) -m found }",
        "    default_backend front_door",
        # HAProxy's own answers in sagemaker-runtime's status codes (their bodies are the slots' http-error ones)
        "    http-after-response set-status 424 if { var(txn.slot) -m found } { status 504 }",
        "    http-after-response set-status 503 if { var(txn.slot) -m found } { status 502 }",
        "backend front_door",
        "    no log",
        "    http-reuse always",
        f"    server front_door 127.0.0.1:{front_door_port}",
    ]
    backend_rules = [
        # the model gets and gives the headers it would through the front door (not the caller's credentials)
        f"    http-request del-header {_other_than(FORWARDED_REQUEST_HEADERS)} -m reg",
        f"    http-response del-header {_other_than(FORWARDED_RESPONSE_HEADERS)} -m reg",
        "    http-response set-header x-amzn-RequestId %[uuid]",
        "    http-request set-var(txn.t_called) date(0,us)",
        "    http-response set-var(txn.t_answered) date(0,us)",
        "    http-response set-var(txn.model_status) status",
        "    acl failed status lt 200",  # the front door's rule: any answer but a 2XX is the model's error
        "    acl failed status ge 300",
        "    http-response set-header x-Amzn-Invoked-Production-Variant %[var(txn.variant)] if !failed",
        "    http-response set-var(txn.kind) str(server) if failed",
        "    http-response set-var(txn.kind) str(client) if { status ge 400 } { status lt 500 }",
        "    http-response wait-for-body time 1s if failed",
        f"    http-response set-var(txn.said) res.body,bytes(0,{MAX_MESSAGE_CHARS - 400}),json(utf8ps) if failed",
        f"    http-response set-var(txn.original) res.body,bytes(0,{MAX_MESSAGE_CHARS}),json(utf8ps) if failed",
        "    http-response return status 424 content-type application/json hdr x-amzn-ErrorType ModelError "
        f"lf-string {_quoted(model_error)} if failed",
        *(f"    http-error status {status} content-type application/json hdr x-amzn-ErrorType ServiceUnavailable "
          f"lf-string {_quoted(unreachable)}" for status in (502, 503)),
        "    http-error status 504 content-type application/json hdr x-amzn-ErrorType ModelError "
        f"lf-string {_quoted(model_timed_out)}",
    ]
    # a server whose connection fails is out of rotation at once and stays so, as the router takes an instance out
    # until the controller replaces it: the retry goes to another, and nothing reaches whatever binds its port next
    # (the check that `on-error` needs runs once a day, so it does not put the server back)
    servers = [f"    server {server} 127.0.0.1:1 disabled check inter 24h fall 1 rise 1 observe layer4 error-limit 1 "
               "on-error mark-down" for server in slot_servers()]
    for index in range(SLOTS):
        lines += [f"backend {slot_name(index)}", *backend_rules, *servers]
    routes.touch()
    variants.touch()
    return "\n".join(line for line in lines if line) + "\n"


def _other_than(headers: Sequence[str]) -> str:
    """A regular expression of every header name but `headers` (HAProxy matches names in lower case)."""
    return f"^(?!({'|'.join(headers)})$)"


def _quoted(text: str) -> str:
    """`text` as a double-quoted string of HAProxy's configuration."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def route_entries(region: str, endpoint: str, variants: Sequence[tuple[str, str, float]]) -> list[tuple[str, str]]:
    """The ROUTES entries of an endpoint whose variants are `variants`: (name, slot, weight) of each, in the
    endpoint's order (see the module's docstring). With no weight at all, only TargetVariant routes."""
    entries = [(f"{region}/{endpoint}/={name}", slot) for name, slot, _ in variants]
    total = sum(weight for _, _, weight in variants)
    if total <= 0:
        return entries
    shares = [BUCKETS * weight / total for _, _, weight in variants]
    counts = [math.floor(share) for share in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: counts[i] - shares[i])
    for index in by_remainder[:BUCKETS - sum(counts)]:
        counts[index] += 1
    first = 0
    for (_, slot, _), count in zip(variants, counts, strict=True):
        entries += [(f"{region}/{endpoint}/{bucket}", slot) for bucket in range(first, first + count)]
        first += count
    return entries


def log_lines(connection: socket.socket) -> Iterator[str]:
    """The lines a log ring sends on `connection`, until it closes: each framed as its length in bytes, a space and
    the line (RFC 6587's octet counting)."""
    pending = b""
    while chunk := connection.recv(1 << 20):
        pending += chunk
        time.sleep(LOG_BATCH_S)  # let lines gather: one wake-up per batch, not per line
        start = 0
        while (space := pending.find(b" ", start)) != -1:
            end = space + 1 + int(pending[start:space])
            if end > len(pending):
                break
            yield pending[space + 1:end].decode(errors="replace")
            start = end
        pending = pending[start:]


class RuntimeApi:
    """HAProxy's runtime API on its admin socket: one command per connection."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def run(self, command: str, payload: Iterable[str] = ()) -> str:
        """The answer to `command` (with `payload`'s lines after it, as `<<` gives them)."""
        lines = list(payload)
        text = f"{command} <<\n" + "".join(f"{line}\n" for line in lines) + "\n" if lines else command + "\n"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(self.path))
            sock.sendall(text.encode())
            sock.shutdown(socket.SHUT_WR)
            answer = b"".join(iter(lambda: sock.recv(65536), b""))
        return answer.decode()
