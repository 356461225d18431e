COMMENT
Delayed-rectifier potassium current of Traub-Miles type, the partner of na_tm.
ENDCOMMENT

NEURON {
    SUFFIX kdr_tm
    USEION k READ ek WRITE ik
    RANGE gbar, vtraub
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.1 (S/cm2)
    vtraub = -63 (mV)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    ninf
    ntau (ms)
}

STATE { n }

BREAKPOINT {
    SOLVE states METHOD cnexp
    ik = gbar * n * n * n * n * (v - ek)
}

INITIAL {
    rates(v)
    n = ninf
}

DERIVATIVE states {
    rates(v)
    n' = (ninf - n) / ntau
}

FUNCTION efun(x) {
    if (fabs(x) < 1e-6) {
        efun = 1 - x / 2
    } else {
        efun = x / (exp(x) - 1)
    }
}

PROCEDURE rates(v (mV)) {
    LOCAL u, an, bn
    u = v - vtraub
    an = 0.032 * 5 * efun((15 - u) / 5)
    bn = 0.5 * exp((10 - u) / 40)
    ninf = an / (an + bn)
    ntau = 1 / (an + bn)
}
