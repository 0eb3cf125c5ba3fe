"""Stages that consume newsmon topics: classification, alert rules, delivery."""
