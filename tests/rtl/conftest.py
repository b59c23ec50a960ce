"""RTL tests: each module of hw/rtl against a numpy reference, through the Verilator harness."""
