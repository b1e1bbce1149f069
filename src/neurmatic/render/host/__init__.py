"""Host hardening files rendered for production hosts (firewall, fail2ban, kernel and limits)."""
