"""Technologies: one package per system Bindery talks to (shops, marketplaces, files, ERPs)."""
