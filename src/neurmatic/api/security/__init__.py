"""The API's security layer: client IP, rate limits, CSRF, security headers, body limits, sanitising."""
