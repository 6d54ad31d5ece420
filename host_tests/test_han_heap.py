# portable
# Heap cost of the HAN read path on MicroPython (skipped on CPython): the framer's scan runs
# with the heap locked (it allocates nothing), a steady-state push allocates a small, bounded
# amount, and nothing accumulates over many pushes. Figures are printed (64-bit unix port:
# about twice a 32-bit board's).
import gc

import han_corpus_check as check
import support
from han_framer import HanFramer
from han_source import HanSource
from reading import Reading


def _need_micropython():
    if not support.running_on_micropython():
        support.skip("heap accounting and heap_lock are MicroPython's")


class _Uart:
    def __init__(self):
        self.data = b""
        self.pos = 0

    def any(self):
        return len(self.data) - self.pos

    def readinto(self, buf):
        n = min(len(buf), len(self.data) - self.pos)
        for i in range(n):  # no slice: this fake UART must not allocate either
            buf[i] = self.data[self.pos + i]
        self.pos += n
        return n


class _Counter:
    # A bound method, as the firmware passes: calling a closure with this many arguments
    # allocates on MicroPython, a bound method does not.
    def __init__(self):
        self.count = 0

    def on_push(self, kind, buf, start, end, flags):
        self.count += 1


def test_framer_scan_allocates_nothing():
    _need_micropython()
    import micropython

    corpus = check.corpus_by_id()
    counter = _Counter()
    framer = HanFramer(counter.on_push)
    names = ("aidon-se-gh156-1", "enc-kaifa-tinetz-at-doc", "dsmr-aidon-adn9-6534-evcc",
             "segmented-iskra-hr-gh1072-1")
    # Round 0 with the heap open: the reassembly buffer is allocated with the first segment a
    # framer ever sees (most meters never segment). Round 1, the steady state, with it locked.
    for locked in (False, True):
        for name in names:
            data = check.entry_bytes(corpus[name])
            # Copy the bytes in while the heap is open, then scan, check CRCs, reassemble and
            # hand the push on with the heap locked.
            framer._mv[0 : len(data)] = data
            framer._start = 0
            framer._end = len(data)
            gc.collect()
            if locked:
                micropython.heap_lock()
            try:
                framer._scan()
            finally:
                if locked:
                    micropython.heap_unlock()
        assert counter.count == (3 if not locked else 6)
        # The Iskra segment waits for the rest of its push; forget it, so that the next
        # round's first frame is no rejection of an incomplete push (a rejection may allocate
        # its reason text: rare, not the steady state).
        framer._seg_kind = framer._seg_len = 0


def test_steady_state_push_allocates_little_and_nothing_accumulates():
    _need_micropython()
    corpus = check.corpus_by_id()
    report = {}
    for name in ("aidon-se-gh156-1", "kamstrup-gh239-2", "kaifa-no-gh493-1",
                 "dsmr-ell5-se-p1reader-readme", "enc-kaifa-tinetz-at-doc"):
        entry = corpus[name]
        uart = _Uart()
        reading = Reading("han")
        source = HanSource(uart, check.entry_settings(entry), reading)
        frame = check.entry_bytes(entry)
        for _ in range(3):  # warm up: ids, channels and the reading's shape are set once
            uart.data = frame
            uart.pos = 0
            while uart.any():
                source.poll()
        gc.collect()
        base = gc.mem_alloc()
        gc.disable()
        try:
            before = gc.mem_alloc()
            uart.data = frame
            uart.pos = 0
            refreshed = False
            while uart.any():
                refreshed = source.poll() or refreshed
            per_push = gc.mem_alloc() - before
        finally:
            gc.enable()
        assert refreshed, name
        for _ in range(50):
            uart.data = frame
            uart.pos = 0
            while uart.any():
                source.poll()
        gc.collect()
        growth = gc.mem_alloc() - base
        report[name] = (len(frame), per_push, growth)
        # Bounded: a push allocates less than its own size in bytes (mostly the numbers the
        # meter sends; 64-bit port) and 50 more pushes leave nothing behind.
        assert per_push < 1024 + 2 * len(frame), (name, per_push)
        assert growth <= 256, (name, growth)
    print("HAN heap per push (frame bytes, bytes allocated, growth after 50 pushes):", report)


def test_no_room_for_the_reassembly_buffer_drops_the_push_not_the_reader():
    # The reassembly buffer is allocated with the first segment a framer sees; when the heap
    # has no room for it (here: a buffer size no heap has), that push is dropped with its
    # reason and the framer goes on.
    _need_micropython()
    data = check.entry_bytes(check.corpus_by_id()["enc-kaifa-tinetz-at-doc"])  # M-Bus segments
    reasons = []
    counter = _Counter()
    framer = HanFramer(counter.on_push, reasons.append, reassembly_size=(1 << 30) - 1)
    framer.feed(data)
    assert counter.count == 0 and framer.pushes_dropped == 1
    assert reasons == ["no memory to join a segmented push: dropped"], reasons
    framer._seg_size = 1024  # room again: the next segmented push is joined
    framer.feed(data)
    assert counter.count == 1, reasons
