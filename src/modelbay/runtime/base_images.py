"""Base images built here from Debian's packages, for machines that cannot reach Docker Hub.

`debian_image` is the root of every image modelbay builds (framework images, the mirrored `FROM` images):
mmdebstrap makes a minimal Debian of this machine's release from the package sources apt here uses
(about 20 s), and `podman import` stores it as `localhost/modelbay/debian:<codename>`. It is built once
per machine, under a file lock so two servers never build it at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from modelbay.podman_engine import PodmanError, podman

REPOSITORY = "localhost/modelbay"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
_MMDEBSTRAP_TIMEOUT_S = 900


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
    with _lock(config_dir / "debian-image.lock"):
        if not _exists(reference, config_dir):
            _build_debian(reference, config_dir)
    return reference


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


def _exists(reference: str, config_dir: Path) -> bool:
    try:
        podman(["image", "exists", reference], config_dir)
    except PodmanError:
        return False
    return True


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive file lock, held across processes until the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
