COMMENT
Hyperpolarisation-activated cation current (Ih), non-specific, reversal -45 mV.
Rates follow the form measured in layer-5 pyramidal dendrites (Kole et al. 2006).
The density is set per segment by the cell builder so that it rises with distance.
ENDCOMMENT

NEURON {
    SUFFIX ih_elm
    NONSPECIFIC_CURRENT ih
    RANGE gbar, eh
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 2e-5 (S/cm2)
    eh = -45 (mV)
}

ASSIGNED {
    v (mV)
    ih (mA/cm2)
    minf
    mtau (ms)
}

STATE { m }

BREAKPOINT {
    SOLVE states METHOD cnexp
    ih = gbar * m * (v - eh)
}

INITIAL {
    rates(v)
    m = minf
}

DERIVATIVE states {
    rates(v)
    m' = (minf - m) / mtau
}

FUNCTION efun(x) {
    if (fabs(x) < 1e-6) {
        efun = 1 - x / 2
    } else {
        efun = x / (exp(x) - 1)
    }
}

PROCEDURE rates(v (mV)) {
    LOCAL a, b
    a = 0.001 * 6.43 * 11.9 * efun((v + 154.9) / 11.9)
    b = 0.001 * 193 * exp(v / 33.1)
    minf = a / (a + b)
    mtau = 1 / (a + b)
}
