"""packtivity measured side by side with what users would use instead (``./dev bench``)."""
