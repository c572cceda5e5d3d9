"""Benchmarks and load tests at national scale, run on demand (`make bench`), never by pytest.

Each benchmark generates its own data (cached under bench/.data, see common.DATA_DIR), measures
medians over several runs next to a baseline measured in the same run, and returns a Result
that __main__ prints and writes to bench/results/.
"""
