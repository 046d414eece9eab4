/* sim.h: a simulated MiCS-6814, the three-channel gas sensor of the
 * original Raspberry Pis, as gasket-pub --sim reads it.
 *
 * Eight gases (co, no2, c2h5oh, h2, nh3, ch4, c3h8, c4h10), each with a
 * baseline it drifts around (a mean-reverting random walk), noise on each
 * reading, and now and then a spike (a few times to ten times the level,
 * decaying over the next readings) of the size that crosses the warning
 * levels of gasket.example.ini. The same seed gives the same readings. */
#ifndef GASKET_DEVICE_SIM_H
#define GASKET_DEVICE_SIM_H

#include <stddef.h>
#include <stdint.h>

#define SIM_NGAS 8

struct sim_gas {
    const char *name, *sensorid, *sensortype;
    double base;  /* ppm the level drifts around */
    double level; /* where it is now */
    double spike; /* the spike's extra, a multiple of the level, decaying */
};

struct sim {
    struct sim_gas gas[SIM_NGAS];
    uint64_t rng;
};

void sim_init(struct sim *s, uint64_t seed);
/* The next reading: values[i] (ppm, >= 0) for gas[i]. */
void sim_next(struct sim *s, double values[SIM_NGAS]);
/* The sensor id and type of a gas name, for readings from other sources
 * ("" and "0" for a name the board does not have). */
void sim_sensor_of(const char *name, const char **sensorid, const char **sensortype);

#endif
