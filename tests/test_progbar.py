"""Progbar prints Keras 2.2.4's exact text; generic list/array helpers."""
import io
import sys

import numpy as np
import pytest

from gpuseq.utils import generic_utils
from gpuseq.utils.generic_utils import (Progbar, slice_arrays, to_list,
                                        unpack_singleton)


class FakeStream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self._tty = tty

    def isatty(self):
        return self._tty


class FakeClock(object):
    def __init__(self, start=100.0):
        self.now = start

    def time(self):
        return self.now


@pytest.fixture
def console(monkeypatch):
    """Returns install(tty) -> (stream, clock): stdout captured, time frozen."""
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)

    def install(tty):
        stream = FakeStream(tty)
        clock = FakeClock()
        monkeypatch.setattr(sys, "stdout", stream)
        monkeypatch.setattr(generic_utils, "time", clock)
        return stream, clock

    return install


LINE_HALF = (" 500/1000 [==============>...............] - ETA: 0s"
             " - loss: 0.7000 - acc: 0.5000")
LINE_DONE = ("1000/1000 [==============================] - 0s 45us/step"
             " - loss: 0.6913 - acc: 0.5187")


def _two_updates(clock):
    bar = Progbar(target=1000)
    clock.now += 0.020
    bar.update(500, [("loss", 0.7), ("acc", 0.5)])
    clock.now += 0.025
    bar.update(1000, [("loss", 0.6826), ("acc", 0.5374)])
    return bar


def test_non_tty_writes_each_redraw_on_a_new_line(console):
    stream, clock = console(tty=False)
    _two_updates(clock)
    assert stream.getvalue() == "\n" + LINE_HALF + "\n" + LINE_DONE + "\n"


def test_tty_redraws_in_place_with_backspaces(console):
    stream, clock = console(tty=True)
    _two_updates(clock)
    assert len(LINE_HALF) == 81
    assert stream.getvalue() == ("\r" + LINE_HALF +
                                 "\b" * 81 + "\r" + LINE_DONE + "\n")


def test_ipykernel_counts_as_dynamic_display(console, monkeypatch):
    stream, clock = console(tty=False)
    monkeypatch.setitem(sys.modules, "ipykernel", object())
    bar = Progbar(target=2)
    clock.now += 1.0
    bar.update(2)
    assert stream.getvalue() == "\r2/2 [==============================] - 1s 500ms/step\n"


def test_shorter_line_is_padded_to_erase_the_previous_one(console):
    stream, clock = console(tty=True)
    bar = Progbar(target=1001)
    clock.now += 9.0
    bar.update(1)  # ETA = 9 s/step * 1000 steps = 2:30:00
    clock.now += 0.3
    bar.update(1001)
    first = "   1/1001 [..............................] - ETA: 2:30:00"
    final = "1001/1001 [==============================] - 9s 9ms/step"
    assert stream.getvalue() == ("\r" + first + "\b" * len(first) + "\r" + final +
                                 " " * (len(first) - len(final)) + "\n")
    assert len(first) - len(final) == 1


def test_updates_faster_than_interval_are_skipped_but_not_the_last(console):
    stream, clock = console(tty=False)
    bar = Progbar(target=4, interval=0.05)
    clock.now += 1.0
    bar.update(1, [("loss", 1.0)])
    clock.now += 0.01
    bar.update(2, [("loss", 1.0)])  # skipped: 0.01 s after the last draw
    clock.now += 0.01
    bar.update(3, [("loss", 1.0)])  # skipped
    clock.now += 0.01
    bar.update(4, [("loss", 5.0)])  # the last update is always drawn
    assert stream.getvalue() == (
        "\n1/4 [======>.......................] - ETA: 3s - loss: 1.0000"
        "\n4/4 [==============================] - 1s 258ms/step - loss: 2.0000\n")


def test_verbose_2_prints_one_summary_line_at_the_end(console):
    stream, clock = console(tty=True)
    bar = Progbar(target=1000, verbose=2)
    clock.now += 0.02
    bar.update(500, [("loss", 0.7), ("acc", 0.5)])
    assert stream.getvalue() == ""
    clock.now += 1.5
    bar.update(1000, [("loss", 0.6826), ("acc", 0.5374)])
    assert stream.getvalue() == " - 2s - loss: 0.6913 - acc: 0.5187\n"


def test_verbose_0_prints_nothing(console):
    stream, clock = console(tty=True)
    bar = Progbar(target=3, verbose=0)
    bar.update(1, [("loss", 1.0)])
    bar.update(3, [("loss", 1.0)])
    assert stream.getvalue() == ""


def test_small_values_use_scientific_notation_and_stateful_shown_as_is(console):
    stream, clock = console(tty=False)
    bar = Progbar(target=2, stateful_metrics=["auc"])
    clock.now += 2.0
    bar.update(1, [("lr", 1e-4), ("gap", 0.001), ("neg", -0.5), ("auc", 0.25)])
    clock.now += 2.0
    bar.update(2, [("lr", 3e-4), ("gap", 0.001), ("neg", -0.5), ("auc", 0.75)])
    assert stream.getvalue() == (
        "\n1/2 [==============>...............] - ETA: 2s - lr: 1.0000e-04"
        " - gap: 1.0000e-03 - neg: -0.5000 - auc: 0.2500"
        "\n2/2 [==============================] - 4s 2s/step - lr: 2.0000e-04"
        " - gap: 1.0000e-03 - neg: -0.5000 - auc: 0.7500\n")


def test_values_are_weighted_by_steps_since_last_update(console):
    stream, clock = console(tty=False)
    bar = Progbar(target=10, verbose=2)
    bar.update(8, [("loss", 1.0)])    # 8 steps at 1.0
    bar.update(10, [("loss", 6.0)])   # 2 steps at 6.0 -> (8 + 12) / 10
    assert stream.getvalue() == " - 0s - loss: 2.0000\n"


def test_add_advances_by_n(console):
    stream, clock = console(tty=False)
    bar = Progbar(target=6)
    clock.now += 0.6
    bar.add(2, [("acc", 0.5)])
    clock.now += 0.6
    bar.add(4, [("acc", 1.0)])
    assert stream.getvalue() == (
        "\n2/6 [=========>....................] - ETA: 1s - acc: 0.5000"
        "\n6/6 [==============================] - 1s 200ms/step - acc: 0.8333\n")


def test_unknown_target_shows_count_and_time_per_step(console):
    stream, clock = console(tty=False)
    bar = Progbar(target=None)
    clock.now += 1.0
    bar.update(10, [("loss", 0.5)])
    clock.now += 61.0
    bar.update(20, [("loss", 1.5)])
    assert stream.getvalue() == (
        "\n     10/Unknown - 1s 100ms/step - loss: 0.5000"
        "\n     20/Unknown - 62s 3s/step - loss: 1.0000  ")  # padded over the longer line


@pytest.mark.parametrize("eta, text", [
    (0.4, "0s"), (3.9, "3s"), (60, "60s"), (62, "1:02"), (3600, "60:00"),
    (3605, "1:00:05"), (7322, "2:02:02"),
])
def test_eta_format(eta, text):
    assert generic_utils._format_eta(eta) == text


@pytest.mark.parametrize("seconds, text", [
    (2.0, " 2s/step"), (1.0, " 1s/step"), (0.012, " 12ms/step"),
    (0.001, " 1ms/step"), (45e-6, " 45us/step"), (0, " 0us/step"),
])
def test_time_per_step_format(seconds, text):
    assert generic_utils._format_time_per_unit(seconds) == text


def test_eta_over_a_minute_in_a_line(console):
    stream, clock = console(tty=False)
    bar = Progbar(target=32, width=10)
    clock.now += 2.0
    bar.update(1)  # 2 s/step * 31 steps = 62 s
    assert stream.getvalue() == "\n 1/32 [..........] - ETA: 1:02"


def test_invalid_target_raises():
    with pytest.raises(ValueError, match=r"non-negative integer or None.*target=-1"):
        Progbar(target=-1)
    with pytest.raises(ValueError, match=r"Received: target='ten'"):
        Progbar(target="ten")


def test_to_list_and_unpack_singleton():
    assert to_list(3) == [3]
    items = [1, 2]
    assert to_list(items) is items
    assert to_list((1, 2)) == [(1, 2)]
    assert to_list((1, 2), allow_tuple=True) == [1, 2]
    assert unpack_singleton([7]) == 7
    assert unpack_singleton((1, 2)) == (1, 2)


def test_slice_arrays():
    a = np.arange(6)
    b = np.arange(6) * 10
    np.testing.assert_array_equal(slice_arrays(a, 1, 3), [1, 2])
    sliced = slice_arrays([a, None, b], 4)
    np.testing.assert_array_equal(sliced[0], [4, 5])
    assert sliced[1] is None
    np.testing.assert_array_equal(sliced[2], [40, 50])
    picked = slice_arrays([a, b], np.array([5, 0]))
    np.testing.assert_array_equal(picked[0], [5, 0])
    np.testing.assert_array_equal(picked[1], [50, 0])
    np.testing.assert_array_equal(slice_arrays(b, [2, 3]), [20, 30])
    assert slice_arrays(None) == [None]
    with pytest.raises(ValueError, match="stop=3"):
        slice_arrays(a, [1, 2], 3)
