"""The modelbay images of the frameworks estimators and models name: `modelbay/<framework>:<version>`."""

from __future__ import annotations

FRAMEWORKS = ("sklearn", "xgboost", "pytorch", "python")
_VERSION_OPTIONAL = frozenset({"python"})  # plain Python needs no framework release


def image_for(image_uri: str | None, framework: str | None, version: str | None) -> str:
    """The image from exactly one of `image_uri` or `framework` (+ version); ValueError otherwise."""
    if (image_uri is None) == (framework is None):
        raise ValueError("give exactly one of image_uri or framework")
    if image_uri is not None:
        if version is not None:
            raise ValueError("framework_version goes with framework, not with image_uri")
        return image_uri
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework {framework!r} is not one of {', '.join(FRAMEWORKS)}")
    if version is None:
        if framework not in _VERSION_OPTIONAL:
            raise ValueError(f"framework {framework!r} needs a framework_version")
        return f"modelbay/{framework}"
    return f"modelbay/{framework}:{version}"
