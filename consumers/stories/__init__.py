"""Story clustering: which classified items report the same real-world event, and the stage that keeps stories."""
