"""When to colour: a terminal only, never with NO_COLOR (any value) or TERM=dumb."""

from __future__ import annotations

import io
import os

import pytest

from reconciler.output import render


@pytest.fixture
def tty():
    """A real terminal: the slave side of a pseudo-terminal."""
    master, slave = os.openpty()
    stream = os.fdopen(slave, "w")
    yield stream
    stream.close()
    os.close(master)


class _Broken:
    def isatty(self) -> bool:
        raise ValueError("I/O operation on closed file")


def test_terminal_gets_colour(tty):
    assert render.use_color(tty, {"TERM": "xterm-256color"}) is True
    assert render.use_color(tty, {}) is True


@pytest.mark.parametrize("value", ["1", "", "false"])
def test_no_color_wins_whatever_its_value(tty, value):
    assert render.use_color(tty, {"NO_COLOR": value, "TERM": "xterm"}) is False


def test_dumb_terminal(tty):
    assert render.use_color(tty, {"TERM": "dumb"}) is False


def test_not_a_terminal():
    """A pipe, a file or a CI log is not a terminal."""
    assert render.use_color(io.StringIO(), {"TERM": "xterm"}) is False


def test_closed_stream():
    """A stream that cannot answer is treated as no terminal."""
    assert render.use_color(_Broken(), {}) is False
