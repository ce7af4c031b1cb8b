// Tells the server the browser's time zone (an IANA name), so pages show times in it;
// see controltower/web/timezones.py. The API keeps UTC whatever this says.
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (!zone || document.cookie.split("; ").indexOf("tz=" + zone) !== -1) return;
    document.cookie = "tz=" + zone + "; path=/; max-age=31536000; samesite=lax";
  } catch (e) {
    // No Intl time zone support: pages stay in UTC.
  }
})();
