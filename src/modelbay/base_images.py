"""Base images built here from Debian's packages, for machines that cannot reach Docker Hub.

`debian_image` is the root of every image modelbay builds (framework images, the mirrored `FROM` images):
mmdebstrap makes a minimal Debian of this machine's release from the package sources apt here uses
(about 20 s), and `podman import` stores it as `localhost/modelbay/debian:<codename>`. It is built once
per machine, under a file lock so two servers never build it at once.

The images a Dockerfile's `FROM` lines name on Docker Hub (`debian:*`, `python:*`, `ubuntu:*`: `base_image`)
are built from it with a generated Containerfile, as `localhost/modelbay/<name>:<tag>` (`build_base_image`),
once per machine; `modelbay images build` pushes them to a server's registry as `library/<name>:<tag>`, where a
registries.conf mirror entry resolves `FROM python:3.11-slim` to them. What Debian cannot give as asked (another
Python, another release, Ubuntu) it gives as Debian has it, saying so (`BaseImage.warnings`) in the image's
`WARNING_LABEL`. The module imports only podman_engine: the CLI builds with it too.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from modelbay.podman_engine import PodmanError, ensure_image, podman

REPOSITORY = "localhost/modelbay"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
WARNING_LABEL = "io.modelbay.base-image.warning"
BASE_NAMES = ("debian", "python", "ubuntu")  # Docker Hub's library images served from Debian's packages
DEBIAN_RELEASES = {"10": "buster", "11": "bullseye", "12": "bookworm", "13": "trixie", "14": "forky"}
_THIS_RELEASE = ("latest", "stable", "slim")  # tags (or tag parts) that ask for no release in particular
_DOCKER_HUB = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")
_VERSION = re.compile(r"[0-9]+(\.[0-9]+)*")
_ARGUMENT = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}"  # ${A}, ${A:-x}
                       r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")  # $A
# Debian's Python, as Docker Hub's python images have it: `python` and `pip` commands, system-wide pip installs
# allowed (Debian marks its Python EXTERNALLY-MANAGED, PEP 668; the python images do not), CA certificates, UTF-8.
_PYTHON_STEPS = """\
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-pip \\
        python-is-python3 ca-certificates && rm -rf /var/lib/apt/lists/* /usr/lib/python3*/EXTERNALLY-MANAGED
ENV LANG=C.UTF-8
CMD ["python3"]
"""
_MMDEBSTRAP_TIMEOUT_S = 900
_BUILD_TIMEOUT_S = 900


def debian_codename(os_release: Path = Path("/etc/os-release")) -> str:
    """This machine's Debian release (bookworm, trixie, ...): base images are of the release apt here serves."""
    for line in os_release.read_text().splitlines():
        name, _, value = line.partition("=")
        if name == "VERSION_CODENAME" and value.strip('"'):
            return value.strip('"')
    raise PodmanError(f"{os_release} names no VERSION_CODENAME: base images are built on Debian only")


def apt_source_files(sources: tuple[Path, ...] = APT_SOURCES) -> list[Path]:
    """The files naming the package sources apt here uses (a file disabled by renaming it is not one)."""
    single, directory = sources
    files = [single] if single.is_file() and single.read_text().strip() else []
    if directory.is_dir():
        files += sorted(path for path in directory.iterdir() if path.suffix in (".list", ".sources"))
    return files


def debian_image(config_dir: Path) -> str:
    """`localhost/modelbay/debian:<codename>`, built from Debian's packages if this machine lacks it."""
    reference = f"{REPOSITORY}/debian:{debian_codename()}"
    return ensure_image(reference, config_dir, lambda: _build_debian(reference, config_dir))


@dataclass(frozen=True)
class BaseImage:
    """An image of Docker Hub's library that modelbay builds from Debian's packages: `<name>:<tag>`."""

    name: str  # one of BASE_NAMES
    tag: str

    @property
    def reference(self) -> str:
        """Where it is built on this machine (podman's store)."""
        return f"{REPOSITORY}/{self.name}:{self.tag}"

    @property
    def repository(self) -> str:
        """Its repository in a registry, as Docker Hub names it: what a registries.conf mirror entry maps to."""
        return f"library/{self.name}"

    def warnings(self, codename: str, python_version: str | None = None) -> list[str]:
        """What differs from what its name promises, on a machine of Debian `codename` whose Python is
        `python_version` (for a python image)."""
        given, content = f"{self.name}:{self.tag}", f"Debian {codename}'s"
        if self.name == "ubuntu":
            return [f"{given} is served with {content} packages, not Ubuntu's"]
        parts = self.tag.split("-")
        version = parts.pop(0) if _VERSION.fullmatch(parts[0]) else None
        said = []
        if self.name == "debian" and version is not None and DEBIAN_RELEASES.get(version.split(".")[0]) != codename:
            said.append(f"{given} is served with {content} packages (this machine's release), not Debian {version}'s")
        if self.name == "python" and version is not None and python_version is not None \
                and not f"{python_version}.".startswith(f"{version}."):
            said.append(f"{given} is served with {content} Python {python_version}, not Python {version}")
        others = [part for part in parts if part not in (*_THIS_RELEASE, codename) and not part.isdigit()]  # dates
        if others:
            said.append(f"{given} is served with {content} packages, not {'-'.join(others)}'s")
        return said


def base_image(reference: str) -> BaseImage | None:
    """The base image modelbay builds for an image reference of a FROM line (`python:3.11-slim`,
    `docker.io/library/debian:12`), or None for any other image (another registry's, a digest, ...)."""
    for prefix in _DOCKER_HUB:
        reference = reference.removeprefix(prefix)
    name, _, tag = reference.removeprefix("library/").partition(":")
    if name not in BASE_NAMES or "@" in reference or (tag and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", tag)):
        return None
    return BaseImage(name, tag or "latest")


def from_images(dockerfile: str, build_args: Mapping[str, str] | None = None) -> list[str]:
    """The images a Dockerfile's FROM lines name, in order, without duplicates, `scratch` or its own stages;
    `$ARG`s declared before the first FROM are replaced by their values (`build_args`, else their defaults)."""
    arguments: dict[str, str] = {}
    stages: set[str] = set()
    images: list[str] = []
    first = True  # before the first FROM: ARGs there are the FROM lines'
    for instruction, words in _instructions(dockerfile):
        if instruction == "ARG" and first:
            for word in words:
                name, has_default, default = word.partition("=")
                arguments[name] = (build_args or {}).get(name, default if has_default else "")
        elif instruction == "FROM":
            first = False
            words = [word for word in words if not word.startswith("--")]  # --platform=...
            image = _ARGUMENT.sub(lambda found: _argument(found, arguments), words[0]) if words else ""
            if image and image.lower() != "scratch" and image.lower() not in stages and image not in images:
                images.append(image)
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.add(words[2].lower())
    return images


def build_base_image(base: BaseImage, config_dir: Path) -> list[str]:
    """Build `base` on this machine if it lacks it; answer its warnings (read back from its label)."""
    def make() -> None:
        debian = debian_image(config_dir)
        content = _python_image(debian, config_dir) if base.name == "python" else debian
        version = _python_version(content, config_dir) if base.name == "python" else None
        warnings = base.warnings(debian_codename(), version)
        containerfile = f"FROM {content}\n" + (f"LABEL {WARNING_LABEL}={_quoted(' '.join(warnings))}\n"
                                                if warnings else "")
        _build(containerfile, base.reference, config_dir)
    ensure_image(base.reference, config_dir, make)
    label = podman(["image", "inspect", "--format", f'{{{{index .Labels "{WARNING_LABEL}"}}}}', base.reference],
                   config_dir).strip()
    return [label] if label and label != "<no value>" else []


def _python_image(debian: str, config_dir: Path) -> str:
    """Debian's Python, as Docker Hub's python images hold it, built once per machine."""
    reference = f"{REPOSITORY}/python-debian:{debian.rpartition(':')[2]}"
    return ensure_image(reference, config_dir, lambda: _build(f"FROM {debian}\n{_PYTHON_STEPS}", reference, config_dir))


def _python_version(image: str, config_dir: Path) -> str:
    return podman(["run", "--rm", "--network", "none", image, "python3", "-c",
                   "import platform; print(platform.python_version())"], config_dir).strip()


def _build(containerfile: str, reference: str, config_dir: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="modelbay-base-") as context:
        (Path(context) / "Containerfile").write_text(containerfile)
        podman(["build", "--quiet", "--tag", reference, context], config_dir, timeout_s=_BUILD_TIMEOUT_S)


def _instructions(dockerfile: str) -> Iterator[tuple[str, list[str]]]:
    """A Dockerfile's instructions, upper case, with their words (continued lines joined, comments dropped)."""
    logical = ""
    for line in dockerfile.splitlines():
        if not logical and line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            logical += line.rstrip()[:-1] + " "
            continue
        words = (logical + line).split()
        logical = ""
        if words:
            yield words[0].upper(), words[1:]


def _argument(found: re.Match[str], arguments: Mapping[str, str]) -> str:
    value = arguments.get(found["braced"] or found["plain"], "")
    return value or (found["default"] or "")


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _build_debian(reference: str, config_dir: Path) -> None:
    """mmdebstrap a minimal Debian into a tarball and import it as `reference`."""
    sources = apt_source_files()
    if not sources:
        raise PodmanError("apt on this machine names no package sources: cannot build a Debian base image")
    with tempfile.TemporaryDirectory(prefix="modelbay-debian-") as work:
        tarball = Path(work) / "rootfs.tar"
        argv = ["mmdebstrap", "--variant=minbase", "--mode=root", "--format=tar", "--quiet",
                debian_codename(), str(tarball), *map(str, sources)]
        try:
            subprocess.run(argv, check=True, capture_output=True, text=True, timeout=_MMDEBSTRAP_TIMEOUT_S)
        except subprocess.CalledProcessError as error:
            raise PodmanError(f"mmdebstrap failed: {(error.stderr or error.stdout).strip()[-2000:]}") from error
        except (OSError, subprocess.TimeoutExpired) as error:
            raise PodmanError(f"mmdebstrap could not build the Debian base image: {error}") from error
        podman(["import", "--change", 'CMD ["/bin/bash"]', str(tarball), reference], config_dir)
