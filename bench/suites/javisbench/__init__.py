"""JavisBench: prompt CSV, official sample layout, metric -> scorer routing."""
