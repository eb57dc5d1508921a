from mmdg_bench.cli import main

main()
