# Drives lib/mqtt/mqtt_link.py under the MicroPython unix port for host_tests/test_mqtt_link.py:
#   micropython mqtt_link_driver.py HOST PORT USER PASSWORD SECONDS [KEEPALIVE [idle]]
# Queues a numbered message every 100 ms on test/seq for SECONDS (none when "idle"), servicing
# the link, then closes it cleanly. Prints one line per link event for the test to read.
import sys
import time

import umqtt.simple
from mqtt_link import MqttLink

host, port, user, password, seconds = sys.argv[1:6]
keepalive = int(sys.argv[6]) if len(sys.argv) > 6 else 60
idle = sys.argv[7:] == ["idle"]
link = MqttLink(umqtt.simple, "driver", host, int(port), user, password, keepalive,
                "test/status", ("test/in",), timeout_s=2, backoff_max_ms=2000, outbox_len=200)
was_up = False
seq = 0
end = time.ticks_add(time.ticks_ms(), int(float(seconds) * 1000))
next_msg = time.ticks_ms()
while time.ticks_diff(end, time.ticks_ms()) > 0:
    link.service()
    if link.connected != was_up:
        was_up = link.connected
        print("EVENT", "up" if was_up else "down", link.last_error)
    if not idle and time.ticks_diff(time.ticks_ms(), next_msg) >= 0:
        link.queue("test/seq", b"%d" % seq)
        seq += 1
        next_msg = time.ticks_add(next_msg, 100)
    while link.inbox:
        topic, payload, retained = link.inbox.pop(0)
        print("EVENT", "in", topic.decode(), payload.decode())
    time.sleep_ms(10)
# Give the link a last chance to deliver what is queued, then say goodbye.
for _ in range(300):
    if not link.outbox and link.connected:
        break
    link.service()
    time.sleep_ms(10)
print("EVENT", "sent", seq, "dropped", link.outbox_dropped, "left", len(link.outbox))
link.close()
