# What every real board does the same way (ESP32, ESP8266, rp2): its unique id, WiFi from the
# config, the ATM90E32's SPI bus, blinking an LED to be found, reset, and naming the reset cause.
# Board modules import from here; only they know the pins.
import machine

_timer = None
# machine.reset_cause() values by name; a port lacks some (getattr below), e.g. no
# DEEPSLEEP_RESET on rp2 (MicroPython machine module docs, "Constants")
_CAUSES = (
    ("power_on", "PWRON_RESET"),
    ("watchdog", "WDT_RESET"),
    ("hard", "HARD_RESET"),
    ("soft", "SOFT_RESET"),
    ("deepsleep", "DEEPSLEEP_RESET"),
)


def unique_id():
    return machine.unique_id()


def network_up(config, timeout_ms):
    from boards import wifi

    settings = config.get("wifi") or {}
    return wifi.up(settings.get("ssid", ""), settings.get("password", ""), timeout_ms)


def atm90e32_spi(spi_id, baudrate, sck, mosi, miso):
    """The bus for ATM90E32 chips: SPI mode 3 (CPOL=1, CPHA=1), MSB first, as every ATM90E32
    driver uses it (docs/atm90e32.md §3.2); chip selects are the board's own pins."""
    return machine.SPI(spi_id, baudrate=baudrate, polarity=1, phase=1, bits=8,
                       firstbit=machine.SPI.MSB, sck=machine.Pin(sck), mosi=machine.Pin(mosi),
                       miso=machine.Pin(miso))


def blink(led, seconds, timer_id, active_low=False):
    """Blink `led` (an output Pin) for `seconds` from a timer, so the main loop keeps running
    (and keeps feeding the watchdog). timer_id -1 is a virtual timer (ESP8266, rp2)."""
    global _timer
    toggles = [max(1, int(seconds)) * 4]
    off = 1 if active_low else 0

    def step(timer):
        toggles[0] -= 1
        led.value((toggles[0] & 1) ^ off if toggles[0] > 0 else off)
        if toggles[0] <= 0:
            timer.deinit()

    if _timer is not None:
        _timer.deinit()
    _timer = machine.Timer(timer_id)
    _timer.init(period=250, mode=machine.Timer.PERIODIC, callback=step)


def reset():
    machine.reset()


def reset_cause():
    cause = machine.reset_cause()
    for name, constant in _CAUSES:
        if cause == getattr(machine, constant, None):
            return name
    return "unknown"
