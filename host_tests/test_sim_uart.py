# portable
# The sim board's replay UART: the bytes of a capture arrive in order, at most `rxbuf` of them
# are held, and what nobody reads in time is lost and counted, as on a real UART.
import time

from boards.sim_uart import ReplayUart

_TMP = "/tmp"


def _replay_file(name, pushes):
    path = "%s/sim_uart_%s.bin" % (_TMP, name)
    with open(path, "wb") as f:
        for push in pushes:
            f.write(bytes(((len(push) >> 8) & 0xFF, len(push) & 0xFF)))
            f.write(push)
    return path


def _pattern(n, seed):
    return bytes((i * 7 + seed) & 0xFF for i in range(n))


def test_unthrottled_replay_delivers_every_byte_through_a_small_buffer():
    pushes = [_pattern(3000, 1), _pattern(10, 2), _pattern(1025, 3)]
    uart = ReplayUart(_replay_file("fast", pushes), baud=0, interval_ms=0, rxbuf=256,
                      loop=False)
    buf = bytearray(100)
    got = bytearray()
    for _ in range(1000):
        if uart.finished:
            break
        if uart.any():
            assert uart.any() <= 256  # never more than the receive buffer
            n = uart.readinto(buf)
            got += buf[:n]
    assert bytes(got) == b"".join(pushes)
    assert uart.overruns == 0
    assert uart.pushes_sent == 3


def test_a_line_that_is_not_read_overruns_the_receive_buffer():
    push = _pattern(600, 5)
    # 115200 baud, 10 bits a byte: 600 bytes take ~52 ms on the line
    uart = ReplayUart(_replay_file("slow", [push]), baud=115200, interval_ms=10000, rxbuf=128,
                      loop=False)
    time.sleep(0.1)
    assert uart.any() == 128
    buf = bytearray(600)
    n = uart.readinto(buf)
    assert n == 128
    assert bytes(buf[:n]) == push[-128:]  # the newest bytes survive, the oldest were lost
    assert uart.overruns == 600 - 128
    assert uart.readinto(buf) is None
