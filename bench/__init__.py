"""Load and latency benchmarks (`make bench`). See bench/README.md."""
