"""The officer console: server-rendered HTML pages under /console/ for officers and county admins.

A package of its own beside the JSON API (``officer_api``): both call the same domain functions, and neither imports
the other. ``officer_console.blueprint.console_bp`` is registered by the app factory.
"""
