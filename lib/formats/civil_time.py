# Unix seconds to a UTC calendar date, without the time module: MicroPython's time.gmtime()
# counts from 2000 on some ports (ESP8266, ESP32 before 1.22), and the formats must stay pure.
# The day-to-date step is the proleptic Gregorian calendar in 400-year eras (146097 days).


def civil(seconds):
    """(year, month, day, hour, minute, second, weekday 0=Monday, yearday 1..366) in UTC."""
    days, rest = divmod(int(seconds), 86400)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    z = days + 719468  # days since 0000-03-01, where a year conveniently ends with 29 February
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)  # day of the March-based year
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    if mp < 10:  # March..December: January and February (59 or 60 days) come before
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        yearday = doy + 60 + (1 if leap else 0)
    else:
        yearday = doy - 305
    return year, month, day, hour, minute, second, weekday, yearday


def iso_utc(seconds):
    """"YYYY-MM-DDTHH:MM:SS" (no zone suffix: the shape Tasmota's "Time" has)."""
    t = civil(seconds)
    return "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}".format(t[0], t[1], t[2], t[3], t[4], t[5])
