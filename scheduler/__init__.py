"""Virtual discharge-meeting scheduler."""
