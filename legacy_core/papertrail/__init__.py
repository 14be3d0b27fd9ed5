"""PaperTrail: the evidence-mapping board of a project (nodes, labelled edges, tags, comments, attachments)."""
