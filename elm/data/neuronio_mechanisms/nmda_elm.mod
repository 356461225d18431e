COMMENT
NMDA receptor synapse: difference of exponentials (rise tau1, decay tau2) gated by the
voltage-dependent magnesium block of Jahr & Stevens (1990). The block is what makes
clustered excitation regenerative (dendritic NMDA spikes); setting mg = 0 removes it.
Each event adds `weight` (uS) of peak conductance, as Exp2Syn does.
ENDCOMMENT

NEURON {
    POINT_PROCESS NMDA_elm
    RANGE tau1, tau2, e, i, g, mg
    NONSPECIFIC_CURRENT i
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
    (mM) = (milli/liter)
}

PARAMETER {
    tau1 = 2 (ms)
    tau2 = 70 (ms)
    e = 0 (mV)
    mg = 1 (mM)
    gamma = 0.062 (/mV)
    kmg = 3.57 (mM)
}

ASSIGNED {
    v (mV)
    i (nA)
    g (uS)
    factor
}

STATE {
    A (uS)
    B (uS)
}

INITIAL {
    LOCAL tp
    A = 0
    B = 0
    tp = (tau1 * tau2) / (tau2 - tau1) * log(tau2 / tau1)
    factor = 1 / (-exp(-tp / tau1) + exp(-tp / tau2))
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = B - A
    i = g * mgblock(v) * (v - e)
}

DERIVATIVE states {
    A' = -A / tau1
    B' = -B / tau2
}

FUNCTION mgblock(v (mV)) {
    mgblock = 1 / (1 + exp(-gamma * v) * (mg / kmg))
}

NET_RECEIVE(weight (uS)) {
    A = A + weight * factor
    B = B + weight * factor
}
