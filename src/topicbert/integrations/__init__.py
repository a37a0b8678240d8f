"""Optional integrations: each needs its extra and is imported only when used."""
