COMMENT
Slow non-inactivating potassium (M) current, giving spike-frequency adaptation
(time-constant form of Pospischil et al. 2008, tau_max = 1 s).
ENDCOMMENT

NEURON {
    SUFFIX km_elm
    USEION k READ ek WRITE ik
    RANGE gbar
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.002 (S/cm2)
    taumax = 1000 (ms)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    pinf
    ptau (ms)
}

STATE { p }

BREAKPOINT {
    SOLVE states METHOD cnexp
    ik = gbar * p * (v - ek)
}

INITIAL {
    rates(v)
    p = pinf
}

DERIVATIVE states {
    rates(v)
    p' = (pinf - p) / ptau
}

PROCEDURE rates(v (mV)) {
    pinf = 1 / (1 + exp(-(v + 35) / 10))
    ptau = taumax / (3.3 * exp((v + 35) / 20) + exp(-(v + 35) / 20))
}
