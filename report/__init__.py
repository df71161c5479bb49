"""Publication → reports: the national report, popular version, federation reports and feedback pages."""
