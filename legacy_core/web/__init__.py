"""Server-rendered web pages (Jinja): login, project list, PaperTrail board, blog post list and editor."""
