"""local contrast detectors."""
