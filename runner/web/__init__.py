"""The operators' console (`runner web`): server-rendered pages over the state, SPEC §9.

Modules: `app` (routes, gate, headers), `pages` (one handler per page, over runner.operations),
`render` (Jinja2, autoescape), `session` (signed cookie, CSRF), `users` (the auth file),
`listen` (HOST:PORT and the loopback rule), `server` (bind and run uvicorn). Templates and
static files are package data.
"""

from __future__ import annotations
