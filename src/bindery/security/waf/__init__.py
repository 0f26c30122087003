"""The application firewall: decode a request, score it against attack rules, block at the threshold."""
