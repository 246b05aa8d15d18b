"""Free text modelbay writes into members whose length AWS's models limit, kept within the limit.

Such a text is a cause followed by what a program said ("AlgorithmError: <its output>, exit
code: 1"; a model server's error body), and both ends matter: the head names the cause, the
last lines are the program's last error (a traceback's innermost frames). So a text too long
keeps its head and its last lines, cut at a line or a word rather than mid-word, with a marker
where the middle was left out. A leaf module: controllers fit FailureReasons with it
(controllers/reasons.py), services the messages of their errors.
"""

from __future__ import annotations

OMITTED_LINES, OMITTED_WORDS = "\n[...]\n", " [...] "  # what marks the middle left out, of lines or of one line


def fit(text: str, limit: int) -> str:
    """`text` itself if it fits in `limit` characters, else its head and its last lines around a marker."""
    if len(text) <= limit:
        return text
    text = text.rstrip()
    if len(text) <= limit:
        return text
    omitted = OMITTED_LINES if "\n" in text else OMITTED_WORDS
    budget = limit - len(omitted)
    tail = _tail(text.split("\n"), budget // 2)
    head = _head(text[:len(text) - len(tail)], budget - len(tail))
    return head + omitted + tail


def _head(text: str, budget: int) -> str:
    """The start of `text` in `budget` characters, ending at a line break, else a space, if one is in its second
    half."""
    if len(text) <= budget:
        return text.rstrip()
    cut = text[:budget + 1]
    for boundary in ("\n", " "):
        if (at := cut.rfind(boundary)) > budget // 2:
            return cut[:at].rstrip()
    return cut[:budget]


def _tail(lines: list[str], budget: int) -> str:
    """The last lines that fit in `budget` characters; at least the end of the last one, starting after a space
    if one is in its first half."""
    last = lines[-1]
    if len(last) > budget:
        cut = last[-budget - 1:]
        at = cut.find(" ")
        return cut[at + 1:] if 0 <= at < budget // 2 else cut[1:]
    tail = last
    for line in reversed(lines[:-1]):
        if len(line) + 1 + len(tail) > budget:
            break
        tail = f"{line}\n{tail}"
    return tail
