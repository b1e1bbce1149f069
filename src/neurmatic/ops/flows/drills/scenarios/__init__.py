"""One module per drill scenario; :mod:`..registry` imports every module here."""
