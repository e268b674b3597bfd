// Verilator co-simulation of a generated CRC block: the Verilog (gen/hwgen/emit_crc_v.py) against
// the C step function (gen/hwgen/emit_crc_c.py) word by word, and both against runtime/crc32c_ref.c
// per message. Built by hwgen/cosim.py, which writes cosim_cfg.h (COSIM_W, COSIM_VTOP_H, the C names).
//
//   cosim WORDS [--expect-mismatch]
//
// Random messages (1..3 words and 1..4096 octets) at random start lanes, garbage in the lanes outside
// the message and on every input during idle cycles; stretches at full rate (a word every clock)
// alternate with stretches with random idle cycles. Each output word of the Verilog (in order, after
// its pipeline latency) is compared with the C block's output for the same input word: the register,
// and on the last word of a message the CRC. Exit 0 when there are 0 mismatches, or, with
// --expect-mismatch (a deliberately broken block), when there is at least one.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <vector>

#include "cosim_cfg.h"
#include COSIM_VTOP_H
#include "verilated.h"

extern "C" {
#include "iwkit/crc32c.h"
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd() { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

struct expect { uint32_t s, crc, ref; uint8_t eop; };

static void drive_data(COSIM_VTOP *top, const uint64_t *q)
{
#if COSIM_W == 64
    top->in_data = q[0];
#else
    for (unsigned i = 0; i < COSIM_W / 32; i++) {
        top->in_data[i] = (uint32_t)(q[i / 2] >> (32 * (i % 2)));
    }
#endif
}

int main(int argc, char **argv)
{
    const unsigned lanes = COSIM_W / 8, qwords = COSIM_W / 64;
    unsigned long target = argc > 1 ? strtoul(argv[1], nullptr, 10) : 1000000ul;
    bool expect_mismatch = argc > 2 && strcmp(argv[2], "--expect-mismatch") == 0;
    VerilatedContext ctx;
    COSIM_VTOP *top = new COSIM_VTOP(&ctx);
    COSIM_STATE st;
    COSIM_INIT(&st);
    std::deque<expect> pending;
    std::vector<uint8_t> msg;
    unsigned long words = 0, outputs = 0, cycles = 0, mismatches = 0, messages = 0, ref_bad = 0;
    unsigned long idle_cycles = 0;

    auto clock = [&]() {
        top->clk = 0; top->eval();
        top->clk = 1; top->eval();
        cycles++;
        if (top->out_valid && !top->rst) {
            if (pending.empty()) { mismatches++; return; }
            expect e = pending.front(); pending.pop_front();
            outputs++;
            bool bad = top->out_state != e.s || top->out_eop != e.eop || (e.eop && top->out_crc != e.crc);
            if (e.eop && e.crc != e.ref) ref_bad++;
            if (bad) {
                if (mismatches < 5 && !expect_mismatch)
                    fprintf(stderr, "word %lu: verilog state %08x eop %u crc %08x, C state %08x eop %u crc %08x\n",
                            outputs, (unsigned)top->out_state, (unsigned)top->out_eop, (unsigned)top->out_crc,
                            e.s, e.eop, e.crc);
                mismatches++;
            }
        }
    };
    auto garbage = [&]() {
        uint64_t q[8];
        for (unsigned k = 0; k < qwords; k++) q[k] = rnd();
        drive_data(top, q);
        top->in_sop = rnd() & 1; top->in_eop = rnd() & 1;
        top->in_first = rnd() % lanes; top->in_last = rnd() % lanes;
    };

    top->rst = 1; top->in_valid = 0; garbage(); clock(); clock();
    top->rst = 0;
    bool full_rate = true;
    while (words < target) {
        if (messages % 64 == 0) full_rate = !full_rate;
        size_t len = (messages % 2) ? 1 + rnd() % (3 * lanes) : 1 + rnd() % 4096;
        unsigned p = rnd() % lanes;
        msg.resize(len);
        for (auto &b : msg) b = (uint8_t)rnd();
        uint32_t ref = ~iwk_crc32c_ref(IWK_CRC32C_INIT, msg.data(), len);
        size_t off = 0;
        unsigned lane = p;
        while (off < len) {
            while (!full_rate && rnd() % 4 == 0) {   // idle cycle, garbage everywhere
                top->in_valid = 0; garbage(); clock(); idle_cycles++;
            }
            size_t take = len - off < lanes - lane ? len - off : lanes - lane;
            uint8_t oct[64];
            for (unsigned i = 0; i < lanes; i++) oct[i] = (uint8_t)rnd();
            memcpy(oct + lane, msg.data() + off, take);
            COSIM_IN in;
            memset(&in, 0, sizeof in);
            for (unsigned i = 0; i < lanes; i++) in.q[i / 8] |= (uint64_t)oct[i] << (8 * (i % 8));
            in.sop = off == 0; in.eop = off + take == len;
            in.first = (uint8_t)lane; in.last = (uint8_t)(in.eop ? lane + take - 1 : lanes - 1);
            COSIM_OUT out;
            COSIM_STEP(&st, &in, &out);
            pending.push_back({out.s, out.crc, ref, out.eop});
            top->in_valid = 1; drive_data(top, in.q);
            top->in_sop = in.sop; top->in_eop = in.eop; top->in_first = in.first; top->in_last = in.last;
            if (!top->in_ready) { fprintf(stderr, "in_ready low: the block stalled\n"); return 1; }
            clock();
            words++;
            off += take; lane = 0;
        }
        messages++;
    }
    top->in_valid = 0;
    for (int i = 0; i < 32 && !pending.empty(); i++) { garbage(); clock(); }
    if (!pending.empty()) mismatches += pending.size();
    printf("cosim %s: %lu words (%lu messages), %lu cycles (%lu idle), %lu outputs compared: "
           "%lu mismatches; C vs crc32c_ref: %lu mismatches\n",
           COSIM_NAME, words, messages, cycles, idle_cycles, outputs, mismatches, ref_bad);
    top->final();
    delete top;
    if (ref_bad) return 1;
    if (expect_mismatch) {
        printf("mutant %s: %s\n", COSIM_NAME, mismatches ? "caught" : "NOT caught");
        return mismatches ? 0 : 1;
    }
    return mismatches ? 1 : 0;
}
