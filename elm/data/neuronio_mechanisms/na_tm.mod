COMMENT
Fast sodium current of Traub-Miles type (mammalian cortical kinetics, rates in 1/ms as
fitted near body temperature), written for the ELM companion's NeuronIO stand-in.
The squid-axon "hh" built into NEURON runs at 6.3 C and gave only single spikes in this
cell, which is why a mammalian set is used. vtraub shifts the activation curves.
ENDCOMMENT

NEURON {
    SUFFIX na_tm
    USEION na READ ena WRITE ina
    RANGE gbar, vtraub
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.05 (S/cm2)
    vtraub = -63 (mV)
}

ASSIGNED {
    v (mV)
    ena (mV)
    ina (mA/cm2)
    minf
    hinf
    mtau (ms)
    htau (ms)
}

STATE { m h }

BREAKPOINT {
    SOLVE states METHOD cnexp
    ina = gbar * m * m * m * h * (v - ena)
}

INITIAL {
    rates(v)
    m = minf
    h = hinf
}

DERIVATIVE states {
    rates(v)
    m' = (minf - m) / mtau
    h' = (hinf - h) / htau
}

FUNCTION efun(x) {
    : x / (exp(x) - 1), continuous through x = 0
    if (fabs(x) < 1e-6) {
        efun = 1 - x / 2
    } else {
        efun = x / (exp(x) - 1)
    }
}

PROCEDURE rates(v (mV)) {
    LOCAL u, am, bm, ah, bh
    u = v - vtraub
    am = 0.32 * 4 * efun((13 - u) / 4)
    bm = 0.28 * 5 * efun((u - 40) / 5)
    ah = 0.128 * exp((17 - u) / 18)
    bh = 4 / (1 + exp((40 - u) / 5))
    minf = am / (am + bm)
    mtau = 1 / (am + bm)
    hinf = ah / (ah + bh)
    htau = 1 / (ah + bh)
}
