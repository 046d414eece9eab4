/* sim.c: the simulated MiCS-6814 (sim.h). */
#include "device/sim.h"

#include <math.h>
#include <string.h>

#define SPIKE_CHANCE 0.004 /* per gas and reading */
#define SPIKE_DECAY  0.7   /* what is left of a spike at the next reading */
#define DRIFT_PULL   0.02  /* how fast the level returns to the baseline */
#define DRIFT_STEP   0.02  /* the walk's step, a fraction of the baseline */
#define NOISE        0.01  /* a reading's noise, a fraction of the level */

/* The board's channels as the seed named them (sensortype "8", ids from 0005). */
static const struct sim_gas board[SIM_NGAS] = {
    {"co", "0005", "8", 5.0, 0, 0},      {"no2", "0006", "8", 0.12, 0, 0},
    {"c2h5oh", "0007", "8", 20.0, 0, 0}, {"h2", "0008", "8", 10.0, 0, 0},
    {"nh3", "0009", "8", 3.0, 0, 0},     {"ch4", "0010", "8", 1000.0, 0, 0},
    {"c3h8", "0011", "8", 300.0, 0, 0},  {"c4h10", "0012", "8", 250.0, 0, 0},
};

static uint64_t next_u64(struct sim *s)
{
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 0x2545f4914f6cdd1dull;
}

/* Uniform in (0, 1). */
static double uniform(struct sim *s)
{
    return ((double)(next_u64(s) >> 11) + 0.5) / 9007199254740992.0;
}

/* Standard normal (Box-Muller). */
static double normal(struct sim *s)
{
    return sqrt(-2.0 * log(uniform(s))) * cos(2.0 * M_PI * uniform(s));
}

void sim_init(struct sim *s, uint64_t seed)
{
    memcpy(s->gas, board, sizeof board);
    s->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 4; i++)
        next_u64(s); /* let nearby seeds part ways */
    for (int i = 0; i < SIM_NGAS; i++)
        s->gas[i].level = s->gas[i].base * (0.8 + 0.4 * uniform(s));
}

void sim_next(struct sim *s, double values[SIM_NGAS])
{
    for (int i = 0; i < SIM_NGAS; i++) {
        struct sim_gas *g = &s->gas[i];
        g->level += DRIFT_PULL * (g->base - g->level) + DRIFT_STEP * g->base * normal(s);
        if (g->level < g->base * 0.1) g->level = g->base * 0.1;
        g->spike *= SPIKE_DECAY;
        if (uniform(s) < SPIKE_CHANCE) g->spike += 2.0 + 8.0 * uniform(s);
        double v = g->level * (1.0 + g->spike) * (1.0 + NOISE * normal(s));
        values[i] = v > 0 ? v : 0;
    }
}

void sim_sensor_of(const char *name, const char **sensorid, const char **sensortype)
{
    for (int i = 0; i < SIM_NGAS; i++) {
        if (strcmp(board[i].name, name) == 0) {
            *sensorid = board[i].sensorid;
            *sensortype = board[i].sensortype;
            return;
        }
    }
    *sensorid = "";
    *sensortype = "0";
}
