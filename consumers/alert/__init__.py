"""The `alert` stage: classified stories matched against the rules file into `news.alerts`, once per story and rule."""
