/* One device's round of decentralised training, as it would run on a Cortex-M4F:
 *
 *   1. sense:    read a batch of BATCH samples (N_FEATURES floats and a label each)
 *   2. train:    one SGD step of the softmax learner  W <- W - LR * (1/B) X^T (softmax(XW + b) - Y)
 *   3. exchange: send the model, receive NEIGHBOURS models with their sample counts and average
 *                them with its own, weighted by sample counts (FedAvg), either
 *                  AGG_STORE_ALL = 1: storing every received model, then averaging, or
 *                  AGG_STORE_ALL = 0: Cumulative FedAvg, one running weighted sum updated on arrival.
 *
 * Memory is laid out as tinydtl.devices.profile() models it: the weights persist; the train phase's
 * buffers (gradients, logits, error, input batch) and the exchange phase's buffers (send and
 * receive messages, the aggregation store) never coexist, so they share one union. Sizes are
 * compile-time constants (-D); everything is static, so the ELF's .data + .bss is the RAM the
 * program needs besides its stack.
 *
 * The "sensor" and the "radio" are read-only tables in flash written by the Python driver
 * (tinydtl.devices.emulate), which reproduces the round with numpy and compares the final weights.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "device.h"

#ifndef N_FEATURES
#define N_FEATURES 784
#endif
#ifndef N_CLASSES
#define N_CLASSES 10
#endif
#ifndef BATCH
#define BATCH 1
#endif
#ifndef NEIGHBOURS
#define NEIGHBOURS 1
#endif
#ifndef AGG_STORE_ALL
#define AGG_STORE_ALL 0
#endif
#ifndef LR
#define LR 0.1f
#endif
#ifndef OWN_SAMPLES
#define OWN_SAMPLES 100u
#endif

#define N_WEIGHTS (N_FEATURES * N_CLASSES)
#define N_PARAMS (N_WEIGHTS + N_CLASSES) /* kernel (N_FEATURES x N_CLASSES), then bias */

/* Flash tables from the driver (blob.S): initial model, the sensor's batch, the radio's messages. */
extern const float initial_model[N_PARAMS];
extern const float sensor_x[BATCH * N_FEATURES];
extern const uint8_t sensor_y[BATCH];
extern const float radio_models[NEIGHBOURS][N_PARAMS];
extern const uint32_t radio_counts[NEIGHBOURS];

/* ---- persistent: the model ---- */
static float model[N_PARAMS];

/* ---- the two phases share one buffer ---- */
static union {
    struct {
        float grad[N_PARAMS];
        float logits[BATCH][N_CLASSES]; /* probabilities after softmax, kept for the backward pass */
        float error[BATCH][N_CLASSES];  /* softmax - one-hot */
        float x[BATCH][N_FEATURES];
        uint8_t y[BATCH];
    } train;
    struct {
        float send[N_PARAMS];
        float recv[N_PARAMS];
#if AGG_STORE_ALL
        float store[NEIGHBOURS][N_PARAMS];
        uint32_t counts[NEIGHBOURS];
#else
        float sum[N_PARAMS]; /* Cumulative FedAvg: sum of n_k * w_k so far */
#endif
    } exchange;
} phase;

static void sense(void)
{
    memcpy(phase.train.x, sensor_x, sizeof phase.train.x);
    memcpy(phase.train.y, sensor_y, sizeof phase.train.y);
}

static void sgd_step(void)
{
    const float *W = model, *bias = model + N_WEIGHTS;
    for (int b = 0; b < BATCH; b++) {
        float *z = phase.train.logits[b];
        for (int c = 0; c < N_CLASSES; c++) z[c] = bias[c];
        for (int d = 0; d < N_FEATURES; d++) {
            const float xd = phase.train.x[b][d];
            const float *row = W + d * N_CLASSES;
            for (int c = 0; c < N_CLASSES; c++) z[c] += xd * row[c];
        }
        float top = z[0], total = 0.0f;
        for (int c = 1; c < N_CLASSES; c++) top = z[c] > top ? z[c] : top;
        for (int c = 0; c < N_CLASSES; c++) total += (z[c] = expf(z[c] - top));
        for (int c = 0; c < N_CLASSES; c++) {
            z[c] /= total;
            phase.train.error[b][c] = z[c] - (c == phase.train.y[b] ? 1.0f : 0.0f);
        }
    }
    memset(phase.train.grad, 0, sizeof phase.train.grad);
    float *gW = phase.train.grad, *gb = phase.train.grad + N_WEIGHTS;
    for (int b = 0; b < BATCH; b++) {
        const float *e = phase.train.error[b];
        for (int d = 0; d < N_FEATURES; d++) {
            const float xd = phase.train.x[b][d];
            float *row = gW + d * N_CLASSES;
            for (int c = 0; c < N_CLASSES; c++) row[c] += xd * e[c];
        }
        for (int c = 0; c < N_CLASSES; c++) gb[c] += e[c];
    }
    const float step = LR / (float)BATCH;
    for (int i = 0; i < N_PARAMS; i++) model[i] -= step * phase.train.grad[i];
}

static void radio_send(const float *message) { (void)message; /* the radio driver takes it from here */ }

static uint32_t radio_receive(int k, float *message)
{
    memcpy(message, radio_models[k], sizeof(float) * N_PARAMS);
    return radio_counts[k];
}

static void exchange(void)
{
    memcpy(phase.exchange.send, model, sizeof phase.exchange.send);
    radio_send(phase.exchange.send);
    uint32_t total = OWN_SAMPLES;
#if AGG_STORE_ALL
    for (int k = 0; k < NEIGHBOURS; k++) {
        phase.exchange.counts[k] = radio_receive(k, phase.exchange.recv);
        memcpy(phase.exchange.store[k], phase.exchange.recv, sizeof phase.exchange.recv);
        total += phase.exchange.counts[k];
    }
    for (int i = 0; i < N_PARAMS; i++) {
        float acc = (float)OWN_SAMPLES * model[i];
        for (int k = 0; k < NEIGHBOURS; k++) acc += (float)phase.exchange.counts[k] * phase.exchange.store[k][i];
        model[i] = acc / (float)total;
    }
#else
    for (int i = 0; i < N_PARAMS; i++) phase.exchange.sum[i] = (float)OWN_SAMPLES * model[i];
    for (int k = 0; k < NEIGHBOURS; k++) {
        const uint32_t n = radio_receive(k, phase.exchange.recv);
        const float fn = (float)n;
        for (int i = 0; i < N_PARAMS; i++) phase.exchange.sum[i] += fn * phase.exchange.recv[i];
        total += n;
    }
    for (int i = 0; i < N_PARAMS; i++) model[i] = phase.exchange.sum[i] / (float)total;
#endif
}

int main(void)
{
    memcpy(model, initial_model, sizeof model);
    timer_start();
    uint32_t t0 = timer_ticks();
    sense();
    uint32_t t1 = timer_ticks();
    sgd_step();
    uint32_t t2 = timer_ticks();
    write_floats("trained", model, N_PARAMS);
    uint32_t t3 = timer_ticks();
    exchange();
    uint32_t t4 = timer_ticks();
    write_uint("ticks_sense", t1 - t0);
    write_uint("ticks_train", t2 - t1);
    write_uint("ticks_exchange", t4 - t3);
    write_floats("model", model, N_PARAMS);
    return 0;
}
