"""The tail of a command's output (packtivity/teeprocess.py) is bounded: lines and bytes per
line, whatever the command prints (one line of many megabytes included)."""

from __future__ import annotations

from packtivity.teeprocess import LINE_BYTES, TAIL_LINES, _Tail


def test_a_huge_line_keeps_its_end_only() -> None:
    tail = _Tail()
    chunk = b"x" * 65536
    for _ in range(200):  # 13 MB without a newline
        tail.add(1, chunk)
        assert len(tail.partial[1]) <= LINE_BYTES
    tail.add(1, b"the end\n")
    text = tail.text()
    assert text.endswith("the end") and len(text) == LINE_BYTES


def test_the_last_lines_of_both_streams_in_order() -> None:
    tail = _Tail()
    for number in range(100):
        tail.add(1 if number % 2 else 2, f"line {number}\n".encode())
    tail.add(2, b"no newline yet")
    lines = tail.text().splitlines()
    assert len(lines) == TAIL_LINES
    assert lines[-2] == "line 99" and lines[-1] == "no newline yet"


def test_many_lines_in_one_chunk() -> None:
    tail = _Tail()
    tail.add(1, b"".join(f"{n}\n".encode() for n in range(100000)))
    assert tail.text().splitlines() == [str(n) for n in range(100000 - TAIL_LINES, 100000)]
