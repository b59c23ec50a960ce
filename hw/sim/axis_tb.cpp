// Generic cycle-based AXI-Stream testbench for Verilator models.
//
// Works for any top module with ports ap_clk, ap_rst_n, s_axis_{tdata,tvalid,
// tready} and m_axis_{tdata,tvalid,tready}. The model class must be named
// Vtop (verilator --prefix Vtop), and TB_IN_W / TB_OUT_W must give the
// s_axis_tdata / m_axis_tdata widths in bits (the Python runner reads them
// from the generated header), because Verilator's C types round widths up.
//
// Usage: tb <input.bin> <output.bin> <n_out_beats> [--in-prob P]
//           [--out-prob Q] [--seed S] [--timeout CYCLES] [--stats FILE]
//           [--stats-bin FILE] [--fifo-stats FILE] [--in-interval CYCLES --in-group BEATS]
//           [--progress CYCLES]
// Beats in both files are ceil(W/8) bytes each, little endian.
//
// --stats writes "cycles N", then "in I CYCLE" and "out I CYCLE" per accepted
// beat. --stats-bin writes the same as native-endian uint64s: cycles, n_in,
// n_out, then the in and out stamps; parsing a text line per beat cost more
// than simulating a small accelerator.
//
// Every bnn_fifo exposes its word count as a public signal; the harness finds
// them by scope name, reports their fill levels when it detects a deadlock
// (so the stalled link can be named), and with --fifo-stats writes each
// FIFO's peak count, one "<scope> <peak>" line per FIFO.
//
// --in-interval N --in-group B offers input beat i no earlier than cycle
// (i / B) * N: a source at a fixed image rate, used when sizing FIFOs so the
// ones in front of the bottleneck do not fill with images queued at the input.
//
// --progress N prints "progress <output beats received> <n_out_beats>" to
// stderr every N cycles (a power of two), for a progress bar on long runs.

#include "Vtop.h"
#include "verilated.h"
#include "verilated_syms.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#ifndef TB_IN_W
#error "TB_IN_W (s_axis_tdata width in bits) must be defined"
#endif
#ifndef TB_OUT_W
#error "TB_OUT_W (m_axis_tdata width in bits) must be defined"
#endif

static constexpr size_t IN_BYTES = (TB_IN_W + 7) / 8;
static constexpr size_t OUT_BYTES = (TB_OUT_W + 7) / 8;

// Verilator stores ports of up to 64 bits as plain integers and wider ones as
// VlWide arrays of 32-bit words; both are little endian in their words, so
// beats move through one byte-wise path per representation.
template <typename T>
static typename std::enable_if<std::is_integral<T>::value>::type
put_port(T& port, const uint8_t* src, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(src[i]) << (8 * i);
    port = static_cast<T>(v);
}

template <std::size_t W>
static void put_port(VlWide<W>& port, const uint8_t* src, size_t n) {
    for (std::size_t w = 0; w < W; ++w) {
        uint32_t v = 0;
        for (size_t b = 0; b < 4 && 4 * w + b < n; ++b)
            v |= static_cast<uint32_t>(src[4 * w + b]) << (8 * b);
        port[w] = v;
    }
}

template <typename T>
static typename std::enable_if<std::is_integral<T>::value>::type
get_port(const T& port, uint8_t* dst, size_t n) {
    uint64_t v = static_cast<uint64_t>(port);
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>(v >> (8 * i));
}

template <std::size_t W>
static void get_port(const VlWide<W>& port, uint8_t* dst, size_t n) {
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>(port[i / 4] >> (8 * (i % 4)));
}

// xorshift64*: cheap enough to call twice per simulated cycle.
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ULL + 1) {}
    uint32_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return static_cast<uint32_t>((s * 0x2545F4914F6CDD1DULL) >> 32);
    }
};

// Probability as a 32-bit threshold; 1.0 maps to "always" without drawing.
struct Coin {
    bool always;
    uint32_t thresh;
    explicit Coin(double p)
        : always(p >= 1.0), thresh(p <= 0.0 ? 0 : static_cast<uint32_t>(p * 4294967296.0)) {}
    bool flip(Rng& r) const { return always || r.next() < thresh; }
};

static void usage() {
    std::fprintf(stderr,
                 "usage: tb <input.bin> <output.bin> <n_out_beats> [--in-prob P] "
                 "[--out-prob Q] [--seed S] [--timeout CYCLES] [--stats FILE] "
                 "[--stats-bin FILE] [--fifo-stats FILE] [--in-interval CYCLES --in-group BEATS] "
                 "[--progress CYCLES]\n");
    std::exit(2);
}

// A bnn_fifo's public word count, read in place.
struct FifoProbe {
    std::string scope;
    const void* data;
    VerilatedVarType type;
    uint32_t peak;
    uint32_t read() const {
        switch (type) {
            case VLVT_UINT8: return *static_cast<const uint8_t*>(data);
            case VLVT_UINT16: return *static_cast<const uint16_t*>(data);
            default: return *static_cast<const uint32_t*>(data);
        }
    }
};

static std::vector<FifoProbe> find_fifos(VerilatedContext& ctx) {
    std::vector<FifoProbe> probes;
    const VerilatedScopeNameMap* scopes = ctx.scopeNameMap();
    if (!scopes) return probes;
    for (const auto& entry : *scopes) {
        const VerilatedVar* v = entry.second->varFind("count");
        if (!v || v->vltype() > VLVT_UINT32) continue;
        probes.push_back({entry.second->name(), v->datap(), v->vltype(), 0});
    }
    return probes;
}

// $readmemh in Verilator's runtime parses ROM files one fgetc() at a time,
// and glibc's fgetc takes the stream lock on every call: a quarter of the
// start-up of a model with large weight ROMs. The harness is single
// threaded, so this definition (which the executable's own references bind
// to) reads without the lock.
extern "C" int fgetc(FILE* f) { return getc_unlocked(f); }

static std::vector<uint8_t> read_file(const char* path) {
    std::vector<uint8_t> buf;
    FILE* f = std::fopen(path, "rb");
    if (!f) {
        std::fprintf(stderr, "tb: cannot open %s\n", path);
        std::exit(2);
    }
    uint8_t chunk[65536];
    size_t n;
    while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) buf.insert(buf.end(), chunk, chunk + n);
    std::fclose(f);
    return buf;
}

int main(int argc, char** argv) {
    if (argc < 4) usage();
    const char* in_path = argv[1];
    const char* out_path = argv[2];
    const uint64_t n_out = std::strtoull(argv[3], nullptr, 10);
    double in_prob = 1.0, out_prob = 1.0;
    uint64_t seed = 1, timeout = 100000;
    const char* stats_path = nullptr;
    const char* stats_bin_path = nullptr;
    const char* fifo_stats_path = nullptr;
    uint64_t in_interval = 0, in_group = 1, progress = 0;
    for (int i = 4; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc) usage();
        const char* v = argv[++i];
        if (a == "--in-prob") in_prob = std::atof(v);
        else if (a == "--out-prob") out_prob = std::atof(v);
        else if (a == "--seed") seed = std::strtoull(v, nullptr, 10);
        else if (a == "--timeout") timeout = std::strtoull(v, nullptr, 10);
        else if (a == "--stats") stats_path = v;
        else if (a == "--stats-bin") stats_bin_path = v;
        else if (a == "--fifo-stats") fifo_stats_path = v;
        else if (a == "--in-interval") in_interval = std::strtoull(v, nullptr, 10);
        else if (a == "--in-group") in_group = std::strtoull(v, nullptr, 10);
        else if (a == "--progress") progress = std::strtoull(v, nullptr, 10);
        else usage();
    }

    const std::vector<uint8_t> in_data = read_file(in_path);
    if (progress & (progress - 1)) {
        std::fprintf(stderr, "tb: --progress %llu is not a power of two\n", (unsigned long long)progress);
        return 2;
    }
    if (in_data.size() % IN_BYTES != 0) {
        std::fprintf(stderr, "tb: %s is %zu bytes, not a multiple of the %zu-byte input beat\n",
                     in_path, in_data.size(), IN_BYTES);
        return 2;
    }
    const uint64_t n_in = in_data.size() / IN_BYTES;
    std::vector<uint8_t> out_data(n_out * OUT_BYTES);
    std::vector<uint64_t> in_cycle, out_cycle;
    const bool stamps = stats_path || stats_bin_path;
    if (stamps) {
        in_cycle.reserve(n_in);
        out_cycle.reserve(n_out);
    }

    VerilatedContext ctx;
    ctx.commandArgs(argc, argv);
    Vtop top(&ctx);
    Rng rng(seed);
    const Coin in_coin(in_prob), out_coin(out_prob);
    std::vector<FifoProbe> fifos = find_fifos(ctx);
    if (in_group == 0) usage();

    top.ap_clk = 0;
    top.ap_rst_n = 0;
    top.s_axis_tvalid = 0;
    top.m_axis_tready = 0;
    for (int i = 0; i < 4; ++i) {
        top.ap_clk = 0;
        top.eval();
        top.ap_clk = 1;
        top.eval();
    }
    top.ap_rst_n = 1;

    uint64_t cycle = 0, in_idx = 0, out_idx = 0, idle = 0;
    // Earliest cycle input beat in_idx may be offered: (in_idx / in_group) *
    // in_interval, advanced per group rather than divided every cycle.
    uint64_t in_from = 0, group_left = in_group;
    bool offering = false;
    // Output held from a stalled cycle, to check the AXI stability rule.
    bool out_pending = false;
    uint8_t held[OUT_BYTES];
    uint8_t cur[OUT_BYTES];
    int rc = 0;

    while (out_idx < n_out) {
        // A beat once offered stays offered until accepted (AXI rule); gaps
        // are only inserted before a new beat.
        if (!offering && in_idx < n_in && in_from <= cycle && in_coin.flip(rng)) {
            offering = true;
            put_port(top.s_axis_tdata, &in_data[in_idx * IN_BYTES], IN_BYTES);
        }
        top.s_axis_tvalid = offering;
        top.m_axis_tready = out_coin.flip(rng);
        top.ap_clk = 0;
        top.eval();

        const bool in_fire = offering && top.s_axis_tready;
        const bool out_valid = top.m_axis_tvalid;
        const bool out_fire = out_valid && top.m_axis_tready;
        if (out_valid) get_port(top.m_axis_tdata, cur, OUT_BYTES);
        if (out_pending) {
            if (!out_valid) {
                std::fprintf(stderr, "tb: AXI violation at cycle %llu: m_axis_tvalid dropped before "
                             "output beat %llu was accepted\n",
                             (unsigned long long)cycle, (unsigned long long)out_idx);
                rc = 3;
                break;
            }
            if (std::memcmp(held, cur, OUT_BYTES) != 0) {
                std::fprintf(stderr, "tb: AXI violation at cycle %llu: m_axis_tdata changed while "
                             "output beat %llu was stalled\n",
                             (unsigned long long)cycle, (unsigned long long)out_idx);
                rc = 3;
                break;
            }
        }
        if (out_fire) {
            std::memcpy(&out_data[out_idx * OUT_BYTES], cur, OUT_BYTES);
            if (stamps) out_cycle.push_back(cycle);
            ++out_idx;
            out_pending = false;
        } else if (out_valid) {
            std::memcpy(held, cur, OUT_BYTES);
            out_pending = true;
        }
        if (in_fire) {
            if (stamps) in_cycle.push_back(cycle);
            ++in_idx;
            offering = false;
            if (--group_left == 0) {
                group_left = in_group;
                in_from += in_interval;
            }
        }

        top.ap_clk = 1;
        top.eval();
        ++cycle;
        if (progress && (cycle & (progress - 1)) == 0)
            std::fprintf(stderr, "progress %llu %llu\n", (unsigned long long)out_idx,
                         (unsigned long long)n_out);
        if (fifo_stats_path) {
            for (FifoProbe& p : fifos) {
                const uint32_t c = p.read();
                if (c > p.peak) p.peak = c;
            }
        }

        idle = (in_fire || out_fire) ? 0 : idle + 1;
        if (idle >= timeout) {
            const char* in_state = offering ? "input stalled: s_axis_tready held low"
                                   : in_idx >= n_in ? "all input beats consumed"
                                                    : "input idle";
            const char* out_state = out_valid ? "output stalled: m_axis_tvalid high but consumer "
                                                "never ready"
                                              : "no output: m_axis_tvalid low";
            std::fprintf(stderr,
                         "tb: DEADLOCK at cycle %llu: no transfer for %llu cycles (%s; %s). "
                         "Input beats accepted %llu/%llu, output beats received %llu/%llu\n",
                         (unsigned long long)cycle, (unsigned long long)idle, in_state, out_state,
                         (unsigned long long)in_idx, (unsigned long long)n_in,
                         (unsigned long long)out_idx, (unsigned long long)n_out);
            for (const FifoProbe& p : fifos)
                std::fprintf(stderr, "tb: fifo %s holds %u\n", p.scope.c_str(), p.read());
            rc = 1;
            break;
        }
    }
    top.final();

    FILE* f = std::fopen(out_path, "wb");
    if (!f) {
        std::fprintf(stderr, "tb: cannot write %s\n", out_path);
        return 2;
    }
    std::fwrite(out_data.data(), 1, out_idx * OUT_BYTES, f);
    std::fclose(f);

    if (stats_path) {
        FILE* s = std::fopen(stats_path, "w");
        if (!s) {
            std::fprintf(stderr, "tb: cannot write %s\n", stats_path);
            return 2;
        }
        std::fprintf(s, "cycles %llu\n", (unsigned long long)cycle);
        for (size_t i = 0; i < in_cycle.size(); ++i)
            std::fprintf(s, "in %zu %llu\n", i, (unsigned long long)in_cycle[i]);
        for (size_t i = 0; i < out_cycle.size(); ++i)
            std::fprintf(s, "out %zu %llu\n", i, (unsigned long long)out_cycle[i]);
        std::fclose(s);
    }
    if (stats_bin_path) {
        FILE* s = std::fopen(stats_bin_path, "wb");
        if (!s) {
            std::fprintf(stderr, "tb: cannot write %s\n", stats_bin_path);
            return 2;
        }
        const uint64_t header[3] = {cycle, in_cycle.size(), out_cycle.size()};
        std::fwrite(header, sizeof header[0], 3, s);
        std::fwrite(in_cycle.data(), sizeof(uint64_t), in_cycle.size(), s);
        std::fwrite(out_cycle.data(), sizeof(uint64_t), out_cycle.size(), s);
        std::fclose(s);
    }
    if (fifo_stats_path) {
        FILE* s = std::fopen(fifo_stats_path, "w");
        if (!s) {
            std::fprintf(stderr, "tb: cannot write %s\n", fifo_stats_path);
            return 2;
        }
        for (const FifoProbe& p : fifos) std::fprintf(s, "%s %u\n", p.scope.c_str(), p.peak);
        std::fclose(s);
    }
    return rc;
}
