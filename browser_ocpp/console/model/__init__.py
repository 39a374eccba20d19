"""The console's state without the DOM: settings, the connection's state, the message
log, the custom call.  Nothing here imports ``js``: it runs, and is tested, in CPython."""
