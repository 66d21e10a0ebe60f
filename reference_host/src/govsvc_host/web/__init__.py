"""The server-rendered pages: one router per area (see ``docs/host.md``, "Pages")."""
