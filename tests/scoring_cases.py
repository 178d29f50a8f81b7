"""Regression table for the scorer: real model outputs with the verdict their source gives them.

Each case is (gold, completion, correct, extractor): `score(completion, gold)` must give
`correct`, and find the answer with the rule named `extractor` (see scoring.extract_answer).
An AnsweredCase adds the answer the scorer must read, where the reading is the point (a time
read whole, not the number after its colon). The completions are copied verbatim from the
public sources below and from this project's own default run; `correct` is the verdict the
source records (Math-Verify's expected value, GSM8K's `is_correct`, the log's prediction against
its ground truth), not one computed here.
"""

from __future__ import annotations

Case = tuple[str, str, bool, str]
AnsweredCase = tuple[str, str, bool, str, str | None]

# From huggingface/Math-Verify (https://github.com/huggingface/Math-Verify), commit 5d148cf,
# tests/test_all.py, tests/test_open_thoughts.py, tests/test_numina_cases.py and
# tests/test_yujianll.py: (gold, pred,
# expected) rows built from real model outputs (Qwen and Llama evaluation runs, OpenThoughts and
# NuminaMath generations). Licensed under the Apache License 2.0 (the repository's LICENCE);
# the test files also carry "MIT License, Copyright (c) 2024 The HuggingFace Team".
MATH_VERIFY: list[Case] = [
    # test_all.py: a MATH solution ending in a boxed symbolic answer.
    ('$2-2p$', (
        'Since $x<2$, it follows that $|x-2|=2-x$. If $2-x=p$, then $x=2-p$. Thus '
        '$x-p=\\boxed{2-2p}$.'
    ), True, 'boxed'),
    # test_all.py: boxed polar point with \left( \right), after [asy] code full of $...$ labels.
    ('$(3, \\frac{\\pi}{2})$', (
        'We have that $r = \\\\sqrt{0^2 + 3^2} = 3.$  Also, if we draw the line connecting '
        'the origin and $(0,3),$ this line makes an angle of $\\\\frac{\\\\pi}{2}$ with '
        'the positive $x$-axis.\\n\\n[asy]\\nunitsize(0.8 cm);\\n\\ndraw((-0.5,0)--(3.5,0));\\'
        'ndraw((0,-0.5)--(0,3.5));\\ndraw(arc((0,0),3,0,90),red,Arrow(6));\\n\\ndot((0,3), '
        'red);\\nlabel(\\"$(0,3)$\\", (0,3), W);\\ndot((3,0), '
        'red);\\n[/asy]\\n\\nTherefore, the polar coordinates are $\\\\boxed{\\\\left( 3, '
        '\\\\frac{\\\\pi}{2} \\\\right)}.$'
    ), True, 'boxed'),
    # test_all.py: one chain of equalities ending in a box.
    ('$\\frac{14}{3}$', (
        '$f(-2)+f(-1)+f(0)=\\frac{3(-2)-2}{-2-2}+\\frac{3(-1)-2}{-1-2}+\\frac{3(0)-2}{0-2}=\\fr'
        'ac{-8}{-4}+\\frac{-5}{-3}+\\frac{-2}{-2}=2+\\frac{5}{3}+1=\\boxed{\\frac{14}{3}}$'
    ), True, 'boxed'),
    # test_all.py: a boxed name: compared as text, not as the product E*v*e*l*y*n.
    ('$\\text{Evelyn}$', (
        'Evelyn covered more distance in less time than Briana, Debra and Angela, so her '
        'average speed is greater than any of their average speeds. Evelyn went almost as '
        "far as Carla in less than half the time that it took Carla, so Evelyn's average "
        "speed is also greater than Carla's. Therefore, $\\boxed{\\text{Evelyn}}$ is our "
        'answer.'
    ), True, 'boxed'),
    # test_all.py: boxed 90^\circ after several vectors.
    ('$90^\\circ$', (
        'For the first line, let $t = 2x = 3y = -z.$  Then \\[\\begin{pmatrix} x \\\\ y '
        '\\\\ z \\end{pmatrix} = \\begin{pmatrix} t/2 \\\\ t/3 \\\\ -t \\end{pmatrix} = '
        '\\frac{t}{6} \\begin{pmatrix} 3 \\\\ 2 \\\\ -6 \\end{pmatrix}.\\]Thus, the '
        'direction vector of the first line is $\\begin{pmatrix} 3 \\\\ 2 \\\\ -6 '
        '\\end{pmatrix}.$ For the second line, let $t = 6x = -y = -4z.$  Then '
        '\\[\\begin{pmatrix} x \\\\ y \\\\ z \\end{pmatrix} = \\begin{pmatrix} t/6 \\\\ -t '
        '\\\\ -t/4 \\end{pmatrix} = \\frac{t}{12} \\begin{pmatrix} 2 \\\\ -12 \\\\ -3 '
        '\\end{pmatrix}.\\]Thus, the direction vector of the first line is '
        '$\\begin{pmatrix} 2 \\\\ -12 \\\\ -3 \\end{pmatrix}.$ Note that '
        '\\[\\begin{pmatrix} 3 \\\\ 2 \\\\ -6 \\end{pmatrix} \\cdot \\begin{pmatrix} 2 '
        '\\\\ -12 \\\\ -3 \\end{pmatrix} = 0.\\]Hence, the angle between the lines is '
        '$\\boxed{90^\\circ}.$'
    ), True, 'boxed'),
    # test_all.py: box inside $$...$$ carrying a \mbox unit.
    ('$15\\mbox{ cm}^2$', (
        'The shaded triangle has a base of length $10\\text{ cm}.$ Since the triangle is '
        'enclosed in a rectangle of height $3\\text{ cm},$ then the height of the triangle '
        'is $3\\text{ cm}.$ (We know that the enclosing shape is a rectangle, because any '
        'figure with four sides, including two pairs of equal opposite sides, and two '
        'right angles must be a rectangle.) Therefore, the area of the triangle is '
        '$$\\frac{1}{2}\\times 3 \\times 10 = \\boxed{15\\mbox{ cm}^2}.$$'
    ), True, 'boxed'),
    # test_all.py: boxed root list after a longer $-14,$ $-7,$ ... list.
    ('$-2,1$', (
        'By the Integer Root Theorem, the possible integer roots are all the divisors of '
        '14 (including negative divisors), which are $-14,$ $-7,$ $-2,$ $-1,$ $1,$ $2,$ '
        '$7,$ and $14.$  Checking, we find that the only integer roots are $\\boxed{-2,1}.$'
    ), True, 'boxed'),
    # test_all.py: boxed base-5 numeral, followed by a note with more numbers.
    ('$204_5$', (
        'We may carry out long division in base 5 just as in base 10. We have  \\[ '
        '\\begin{array}{c|ccc} \\multicolumn{2}{r}{2} & 0 & 4 \\\\ \\cline{2-4} 2 & 4 & 1 '
        '& 3 \\\\ \\multicolumn{2}{r}{4} & \\downarrow & \\\\ \\cline{2-2} '
        '\\multicolumn{2}{r}{0} & 1 & \\\\ \\multicolumn{2}{r}{} & 0 & \\downarrow \\\\ '
        '\\cline{3-3} \\multicolumn{2}{r}{} & 1 & 3 \\\\ \\multicolumn{2}{r}{} & 1 & 3 '
        '\\\\ \\cline{3-4} \\multicolumn{2}{r}{} & & 0 \\end{array} \\]for a quotient of '
        '$\\boxed{204_5}$. Note that in the above calculation we have used that $13_5$ '
        'divided by $2_5$ is $4_5$, which follows from $4_5\\times2_5=8_{10}=13_5$.'
    ), True, 'boxed'),
    # test_all.py: boxed \pm pair: a set of two roots.
    ('$1 \\pm \\sqrt{19}$', (
        'This simplifies to $64y + 1920 = 0,$ so $y = -30.$ Then $x^2 - 2x - 48 = -30,$ or '
        '$x^2 - 2x - 18 = 0.$ By the quadratic formula, $x = \\boxed{1 \\pm \\sqrt{19}}.$'
    ), True, 'boxed'),
    # test_all.py: "so the answer is" with the box inside it.
    ('$\\{1\\pm\\sqrt{5},-2\\}$', (
        'The roots of $P(x)$ are $-2$ and $1 \\pm \\sqrt{5}$, so the answer is '
        '$\\boxed{\\{1\\pm\\sqrt{5},-2\\}}.$'
    ), True, 'final_answer'),
    # test_all.py: boxed inequality chain after [asy] code.
    ('$f(2) < f(1) < f(4)$', (
        'The graph of $f(x) = x^2 + bx + c$ is an upward-facing parabola, and the '
        'condition\n\\[f(2 + t) = f(2 - t)\\]tells us that the axis of symmetry of the '
        'parabola is the line $x = 2.$  Thus, $f(x)$ is an increasing function of $|x - '
        '2|.$  In other words, the farther $x$ is from 2, the greater $f(x)$ is.\n\n[asy]\n'
        'unitsize(1.5 cm);\n\nreal parab (real x) {\n  return (x^2/4);\n}\n\n'
        'draw(graph(parab,-2,2),red);\ndraw((0,-0.5)--(0,2),dashed);\n\nlabel("$x = 2$", '
        '(0,2), N);\ndot("$(2,f(2))$", (0,0), SE);\ndot("$(1,f(1))$", (-0.8,parab(-0.8)), '
        'SW);\ndot("$(4,f(4))$", (1.6,parab(1.6)), SE);\n[/asy]\n\nHence, $\\boxed{f(2) < '
        'f(1) < f(4)}.$'
    ), True, 'boxed'),
    # test_all.py: "The answer is $\boxed{...}$" in a text that repeats itself.
    ('$\\frac{\\pi r}{h+r}$', (
        'Since $rs = A$, where $r$ is the inradius, $s$ is the semiperimeter, and $A$ is '
        'the area, we have that the ratio of the area of the circle to the area of the '
        'triangle is $\\frac{\\pi r^2}{rs} = \\frac{\\pi r}{s}$. Now we try to express $s$ '
        'as $h$ and $r$. Denote the points where the incircle meets the triangle as '
        '$X,Y,Z$, where $O$ is the incenter, and denote $AX = AY = z, BX = BZ = y, CY = CZ '
        '= x$. Since $XOZB$ is a square (tangents are perpendicular to radius), $r = BX = '
        'BZ = y$. The perimeter can be expressed as $2(x+y+z)$, so the semiperimeter is '
        '$x+y+z$. The hypotenuse is $AY+CY = z+x$. Thus we have $s = x+y+z = (z+x)+y = '
        "h+r$. The answer is $\\boxed{\\frac{\\pi r}{h+r}}$.'], Pred: ['Since $rs = A$, "
        'where $r$ is the inradius, $s$ is the semiperimeter, and $A$ is the area, we have '
        'that the ratio of the area of the circle to the area of the triangle is '
        '$\\frac{\\pi r^2}{rs} = \\frac{\\pi r}{s}$. Now we try to express $s$ as $h$ and '
        '$r$. Denote the points where the incircle meets the triangle as $X,Y,Z$, where '
        '$O$ is the incenter, and denote $AX = AY = z, BX = BZ = y, CY = CZ = x$. Since '
        '$XOZB$ is a square (tangents are perpendicular to radius), $r = BX = BZ = y$. The '
        'perimeter can be expressed as $2(x+y+z)$, so the semiperimeter is $x+y+z$. The '
        'hypotenuse is $AY+CY = z+x$. Thus we have $s = x+y+z = (z+x)+y = h+r$. The answer '
        'is $\\boxed{\\frac{\\pi r}{h+r}}$.'
    ), True, 'final_answer'),
    # test_all.py: boxed union of intervals with \tfrac.
    ('$[-1, -\\frac{1}{2}) \\cup (-\\frac{1}{2}, 0) \\cup (0, 1) \\cup (1, \\infty)$', (
        'The solution set is $\\boxed{[-1, -\\tfrac12) \\cup (-\\tfrac12, 0) \\cup (0, 1) '
        '\\cup (1, \\infty)}.$'
    ), True, 'boxed'),
    # test_all.py: a bare "x \in \boxed{...}" line.
    (
        'x \\in \\boxed{\\{-1\\} \\cup [0,7)}.$',
        'x \\in \\boxed{\\{-1\\} \\cup [0,7)}.$',
        True, 'boxed',
    ),
    # test_all.py: base-model prose (Qwen), no statement or box: the trailing fraction 2/3, not 3.
    ('$2/3$', (
        'and then Alice wins the game from that point on. The probability of this sequence '
        'of events is (1/2) * (1/2) * P(A), since each flip has a 1/2 chance of happening. '
        'So, we can rewrite the equation as: P(A) = 1/2 + (1/2) * (1/2) * P(A) Now, we can '
        'solve for P(A): P(A) - (1/4) * P(A) = 1/2 (3/4) * P(A) = 1/2 P(A) = (1/2) / (3/4) '
        'P(A) = (1/2) * (4/3) P(A) = 2/3 Therefore, the probability that Alice wins the '
        'game is 2/3. <|im_start|>user'
    ), True, 'last_number'),
    # test_all.py: base-model prose with a chat turn after it: the last number before the turn.
    ('$12$', (
        "Let's denote the common difference of the arithmetic sequence as $d$. Since the "
        'first term is 1, the sequence can be written as $1, 1+d, 1+2d, 1+3d, \\dots$. We '
        'are given that another term of the sequence is 91. So, there exists an integer '
        '$n$ such that $1+nd = 91$. Solving for $d$, we get $d = \\frac{90}{n}$. Since $d$ '
        'must be an integer, $n$ must be a divisor of 90. The divisors of 90 are 1, 2, 3, '
        '5, 6, 9, 10, 15, 18, 30, 45, and 90. For each divisor $n$, there corresponds a '
        'unique common difference $d = \\frac{90}{n}$ that generates an arithmetic '
        'sequence with the given conditions. Therefore, there are 12 distinct arithmetic '
        'sequences that meet the three given conditions. I hope it is correct. '
        '<|im_start|>user'
    ), True, 'last_number'),
    # test_all.py: base-model prose ending in the pair $(7, 6)$: the last math, not 6.
    ('$(7,6)$', (
        "First, let's simplify the second equation by moving all terms involving $x$ to "
        'the left side and all terms involving $y$ to the right side: $x - 0.6x = -y + '
        "8.8$ This simplifies to: $0.4x = -y + 8.8$ Now, let's solve for $y$: $y = 8.8 - "
        '0.4x$ Now, substitute this expression for $y$ into the first equation: $2x - '
        '3(8.8 - 0.4x) = -3.2 - 0.2x + 0.1(8.8 - 0.4x)$ Simplify the equation: $2x - 26.4 '
        '+ 1.2x = -3.2 - 0.2x + 0.88 - 0.04x$ Combine like terms: $3.2x - 26.4 = -2.32 - '
        '0.24x$ Add $0.24x$ to both sides and add $26.4$ to both sides: $3.44x = 24.08$ '
        'Now, divide by $3.44$ to solve for $x$: $x = \\frac{24.08}{3.44} = 7$ Now, '
        'substitute this value of $x$ back into the expression for $y$: $y = 8.8 - 0.4(7)$ '
        '$y = 8.8 - 2.8 = 6$ So, the ordered pair $(x, y)$ that solves the system is $(7, '
        "6)$. I apologize for the mistake in the previous response. Let's correct it. "
        "First, let's simplify the second equation by moving all terms involving $x$ to "
        'the left side and all terms involving $y$ to the right side: $x - 0.6x = -y + '
        "8.8$ This simplifies to: $0.4x = -y + 8.8$ Now, let's solve for $y$: $y = 8.8 - "
        '0.4x$ Now, substitute this expression for $y$ into the first equation: $2x - '
        '3(8.8 - 0.4x) = -3.2 - 0.2x + 0.1(8.8 - 0.4x)$ Simplify the equation: $2x - 26.4 '
        '+ 1.2x = -3.2 - 0.2x + 0.88 - 0.04x$ Combine like terms: $3.2x - 26.4 = -2.32 - '
        '0.24x$ Add $0.24x$ to both sides and add $26.4$ to both sides: $3.44x = 24.08$ '
        'Now, divide by $3.44$ to solve for $x$: $x = \\frac{24.08}{3.44} = 7$ Now, '
        'substitute this value of $x$ back into the expression for $y$: $y = 8.8 - 0.4(7)$ '
        '$y = 8.8 - 2.8 = 6$ So, the ordered pair $(x, y)$ that solves the system is $(7, '
        '6)$. <|im_start|>user'
    ), True, 'last_number'),
    # test_all.py: "Final Answer: The final answer is $(0, 1)$": a wrong interval (gold [0,1)).
    ('$[0,1)$', (
        'For the function $q(x)$ to be defined, both the numerator and the denominator '
        'must be real numbers, and the denominator must not be zero. 1. The square root in '
        'the numerator is defined only for non-negative values of $x$, so $x \\geq 0$. 2. '
        'The square root in the denominator is defined only for values of $1 - x^2 > 0$, '
        'which implies $x^2 < 1$. This gives $-1 < x < 1$. 3. The denominator cannot be '
        'zero, so $1 - x^2 \\neq 0$, which implies $x \\neq \\pm 1$. Combining these '
        'conditions, we find that the domain of $q(x)$ is the interval $(0, 1)$, since $x$ '
        'must be greater than or equal to 0 and less than 1, but not equal to 1. Final '
        'Answer: The final answer is $(0, 1)$. I hope it is correct. <|im_start|>user'
    ), False, 'final_answer'),
    # test_all.py: a box and a Final Answer line agree on a wrong set.
    ('$[-3,2]$', (
        'To find the domain of the function $\\sqrt{6-x-x^2}$, we need to determine for '
        'which values of $x$ the expression inside the square root is non-negative, i.e., '
        "$6-x-x^2 \\ge 0$. First, let's find the roots of the quadratic equation $x^2 + x "
        '- 6 = 0$. We can factor this equation as $(x+3)(x-2) = 0$. So, the roots are $x = '
        '-3$ and $x = 2$. Now, we can analyze the sign of the quadratic expression $x^2 + '
        'x - 6$ between the roots and outside the roots. Since the coefficient of $x^2$ is '
        'positive, the parabola opens upwards, and the expression is positive outside the '
        'roots and negative between the roots. Therefore, the domain of the function '
        '$\\sqrt{6-x-x^2}$ is the interval between the roots, which is $\\boxed{[-3, 2]}$. '
        'Final Answer: The final answer is $[-3, 2]$. I hope it is correct. I apologize '
        'for the mistake in the previous solution. Let me correct it. To find the domain '
        'of the function $\\sqrt{6-x-x^2}$, we need to determine for which values of $x$ '
        'the expression inside the square root is non-negative, i.e., $6-x-x^2 \\ge 0$. '
        "First, let's find the roots of the quadratic equation $x^2 + x - 6 = 0$. We can "
        'factor this equation as $(x+3)(x-2) = 0$. So, the roots are $x = -3$ and $x = 2$. '
        'Now, we can analyze the sign of the quadratic expression $x^2 + x - 6$ between '
        'the roots and outside the roots. Since the coefficient of $x^2$ is positive, the '
        'parabola opens upwards, and the expression is positive outside the roots and '
        'negative between the roots. Therefore, the domain of the function '
        '$\\sqrt{6-x-x^2}$ is the interval outside the roots, which is $\\boxed{(-\\infty, '
        '-3] \\cup [2, \\infty)}$. Final Answer: The final answer is $(-\\infty, -3] \\cup '
        '[2, \\infty)$. I hope it is correct. <|im_start|>user'
    ), False, 'final_answer'),
    # test_all.py: "The answer is $16,\\!386.20$", then an apology cut off mid-word.
    ('$16386.20$', (
        'To find the value of her investment after 5 years, we can use the formula for '
        'compound interest: \\[A = P \\left(1 + \\frac{r}{n}\\right)^{nt}\\] where $A$ is '
        'the final amount, $P$ is the principal (initial investment), $r$ is the annual '
        'interest rate (as a decimal), $n$ is the number of times the interest is '
        'compounded per year, and $t$ is the number of years. In this case, Paula invested '
        '$\\$10,\\!000$, so $P = \\$10,\\!000$. The interest rate is $10\\%$, which as a '
        'decimal is $r = 0.10$. The interest is compounded quarterly, so $n = 4$. The '
        'investment period is 5 years, so $t = 5$. Plugging these values into the formula, '
        'we get: \\[A = 10000 \\left(1 + \\frac{0.10}{4}\\right)^{4 \\cdot 5}\\] \\[A = '
        '10000 \\left(1 + 0.025\\right)^{20}\\] \\[A = 10000 \\left(1.025\\right)^{20}\\] '
        '\\[A \\approx 10000 \\cdot 1.63862\\] \\[A \\approx 16386.20\\] Rounded to the '
        "nearest cent, Paula's investment is worth $\\boxed{\\$16,\\!386.20}$ at the end "
        'of the 5-year period. The answer is $16,\\!386.20$. I apologize for the '
        'repetition in my previous responses. Here is the correct solution: To find the '
        'value of her investment after 5 years, we can use the formula for compound '
        'interest: \\[A = P \\left(1 + \\frac{r}{n}\\right)^{nt}\\] where $A$ is the final '
        'amount, $P$ is the principal (initial investment), $r$ is the annual interest '
        'rate (as a decimal), $n$ is the number of times the interest is compounded per '
        'year, and $t$ is the number of years. In this'
    ), True, 'final_answer'),
    # test_all.py: "Final Answer:" followed by a sentence that ends in the number.
    ('$120$', (
        'We can find the volume of pyramid $ABCH$ by using the formula for the volume of a '
        'pyramid: $\\frac{1}{3} \\times \\text{base area} \\times \\text{height}$. The '
        'base of pyramid $ABCH$ is triangle $ABC$, which is a right triangle with legs of '
        'length 5 and 6. Therefore, the base area is $\\frac{1}{2} \\times 5 \\times 6 = '
        '15$. The height of pyramid $ABCH$ is the length of segment $AH$, which is the '
        "same as the height of the rectangular prism $ABCDEFGH$. Let's call this height "
        '$h$. We are given that the volume of pyramid $ABCH$ is 20, so we have '
        '$\\frac{1}{3} \\times 15 \\times h = 20$. Simplifying, we get $5h = 20$, so $h = '
        '4$. Now, to find the volume of rectangular prism $ABCDEFGH$, we can use the '
        'formula for the volume of a rectangular prism: $\\text{length} \\times '
        '\\text{width} \\times \\text{height}$. The length is 5, the width is 6, and the '
        'height is 4. Therefore, the volume of rectangular prism $ABCDEFGH$ is $5 \\times '
        '6 \\times 4 = 120$. Final Answer: The volume of $ABCDEFGH$ is 120. I hope it is '
        'correct.'
    ), True, 'final_answer'),
    # test_all.py: Final Answer with thousands commas, 12,000,023.
    ('12000023', (
        'To find the integers congruent to 3 (mod 7), we can find the remainder when each '
        'integer is divided by 7. For 85, the remainder is $85 \\mod 7 = 1$. For 49,479, '
        'the remainder is $49,\\!479 \\mod 7 = 3$. For -67, the remainder is $-67 \\mod 7 '
        '= 4$. For 12,000,003, the remainder is $12,\\!000,\\!003 \\mod 7 = 5$. For -3, '
        'the remainder is $-3 \\mod 7 = 4$. The only integer congruent to 3 (mod 7) is '
        '49,479. Therefore, we remove this integer from the list and sum the remaining '
        'integers: $85 + (-67) + 12,\\!000,\\!003 + (-3) = 12,\\!000,\\!023$. Final '
        'Answer: The final answer is 12,000,023. I hope it is correct. <|im_start|>user'
    ), True, 'final_answer'),
    # test_all.py: a wrong value, then "Final Answer: ... is $\boxed{14{,}916}$": the later box.
    ('$14916$', (
        'For a number to be divisible by 12, it must be divisible by both 3 and 4. First, '
        "let's consider the divisibility rule for 3. A number is divisible by 3 if the sum "
        'of its digits is divisible by 3. In this case, the sum of the digits is $1 + 4 + '
        '9 + A + B = 14 + A + B$. Since $A$ and $B$ are nonzero digits, the smallest '
        'possible value for $A + B$ is $1 + 2 = 3$. Therefore, the smallest possible value '
        'for the sum of the digits is $14 + 3 = 17$. The smallest multiple of 3 greater '
        "than 17 is 18, so we need $A + B = 4$. Next, let's consider the divisibility rule "
        'for 4. A number is divisible by 4 if the last two digits form a number divisible '
        'by 4. In this case, the last two digits are $AB$. Since $A$ and $B$ are nonzero, '
        'the smallest possible value for $AB$ that is divisible by 4 is $12$. Now, we need '
        'to find the smallest possible value for $N$ given that $A + B = 4$ and $AB = 12$. '
        'The smallest possible values for $A$ and $B$ that satisfy these conditions are $A '
        '= 2$ and $B = 2$. Therefore, the smallest possible value for $N$ is $14{,}922$. '
        'Final Answer: The smallest possible value of $N$ is $\\boxed{14{,}916}$. I hope '
        'it is correct. <|im_start|>user'
    ), True, 'final_answer'),
    # test_all.py: Final Answer \frac{10\sqrt{10.5}}{27}, equal to the gold's 5\sqrt{42}/27.
    ('$\\frac{5\\sqrt{42}}{27}$', (
        'We can start by simplifying each square root individually: \\begin{align*} '
        '\\sqrt{160} &= \\sqrt{16 \\cdot 10} = \\sqrt{16} \\cdot \\sqrt{10} = 4\\sqrt{10}, '
        '\\\\ \\sqrt{252} &= \\sqrt{36 \\cdot 7} = \\sqrt{36} \\cdot \\sqrt{7} = '
        '6\\sqrt{7}, \\\\ \\sqrt{245} &= \\sqrt{49 \\cdot 5} = \\sqrt{49} \\cdot \\sqrt{5} '
        '= 7\\sqrt{5}, \\\\ \\sqrt{108} &= \\sqrt{36 \\cdot 3} = \\sqrt{36} \\cdot '
        '\\sqrt{3} = 6\\sqrt{3}. \\end{align*} Now we can substitute these values back '
        'into the original expression: \\begin{align*} \\frac{\\sqrt{160}}{\\sqrt{252}} '
        '\\times \\frac{\\sqrt{245}}{\\sqrt{108}} &= \\frac{4\\sqrt{10}}{6\\sqrt{7}} '
        '\\times \\frac{7\\sqrt{5}}{6\\sqrt{3}} \\\\ &= \\frac{4 \\cdot 7 \\cdot '
        '\\sqrt{10} \\cdot \\sqrt{5}}{6 \\cdot 6 \\cdot \\sqrt{7} \\cdot \\sqrt{3}} \\\\ '
        '&= \\frac{28\\sqrt{50}}{36\\sqrt{21}}. \\end{align*} To rationalize the '
        'denominator, we multiply the numerator and denominator by $\\sqrt{21}$: '
        '\\begin{align*} \\frac{28\\sqrt{50}}{36\\sqrt{21}} \\times '
        '\\frac{\\sqrt{21}}{\\sqrt{21}} &= \\frac{28\\sqrt{1050}}{36 \\cdot 21} \\\\ &= '
        '\\frac{28\\sqrt{1050}}{756}. \\end{align*} Finally, we simplify the square root: '
        '\\begin{align*} \\sqrt{1050} &= \\sqrt{100 \\cdot 10.5} = \\sqrt{100} \\cdot '
        '\\sqrt{10.5} = 10\\sqrt{10.5}. \\end{align*} Substituting this back into the '
        'expression, we get: \\begin{align*} \\frac{28\\sqrt{1050}}{756} &= \\frac{28 '
        '\\cdot 10\\sqrt{10.5}}{756} \\\\ &= \\frac{280\\sqrt{10.5}}{756} \\\\ &= '
        '\\frac{10\\sqrt{10.5}}{27}. \\end{align*} Final Answer: The final answer is '
        '$\\frac{10\\sqrt{10.5}}{27}$. I hope it is correct.'
    ), True, 'final_answer'),
    # test_all.py: boxed currency \$16386.17.
    ('$16386.17$', (
        'When interest is compounded quarterly, the interest is applied four times per '
        'year. In this case, the interest rate per quarter is $10\\%/4 = 2.5\\%$. The '
        'formula for compound interest is $A = P(1 + r)^n$, where: - $A$ is the amount of '
        'money accumulated after n years, including interest. - $P$ is the principal '
        'amount (the initial amount of money). - $r$ is the annual interest rate '
        '(decimal). - $n$ is the number of years the money is invested. In this case, $P = '
        '\\$10,000$, $r = 0.025$ (2.5%), and $n = 5 \\times 4 = 20$ (since there are 20 '
        'quarters in 5 years). Plugging these values into the formula, we get: \\[A = '
        '10000(1 + 0.025)^{20}.\\] Calculating this gives: \\[A \\approx 10000(1.025)^{20} '
        "\\approx 16386.169.\\] Rounded to the nearest cent, Paula's investment is worth "
        '$\\boxed{\\$16386.17}$ after 5 years. I hope it is correct. <|im_start|>user'
    ), True, 'boxed'),
    # test_all.py: "Final Answer:" with a sentence stating 3 hours.
    ('$3$', (
        'Let $t$ be the number of hours since Jane started growing Rod, and let $s$ be the '
        'number of hours since Jane started growing Sphere. We know that $t = s + 5$, '
        'since Rod started 5 hours before Sphere. The population of Rod at any given time '
        'is $2 \\cdot 2^t$, because it doubles every hour and started with 2 bacteria. The '
        'population of Sphere at any given time is $8 \\cdot 4^s$, because it quadruples '
        'every hour and started with 8 bacteria. At 8 p.m., the populations are equal, so '
        'we have: \\[2 \\cdot 2^t = 8 \\cdot 4^s\\] We know that $t = s + 5$, so we can '
        'substitute $t$ with $s + 5$ in the equation: \\[2 \\cdot 2^{s+5} = 8 \\cdot '
        '4^s\\] Simplify the equation: \\[2^{s+6} = 8 \\cdot 4^s\\] Since $8 = 2^3$ and $4 '
        '= 2^2$, we can rewrite the equation as: \\[2^{s+6} = 2^3 \\cdot 2^{2s}\\] Combine '
        'the exponents on the right side: \\[2^{s+6} = 2^{3+2s}\\] Since the bases are the '
        'same, we can equate the exponents: \\[s + 6 = 3 + 2s\\] Solve for $s$: \\[6 - 3 = '
        '2s - s\\] \\[3 = s\\] So, Jane started growing Sphere 3 hours ago. Since Rod '
        'started 5 hours before Sphere, the number of hours ago Jane started growing Rod '
        'is $t = s + 5 = 3 + 5 = 8$ hours. Final Answer: Jane started growing Sphere 3 '
        'hours ago. I hope it is correct. <|im_start|>user'
    ), True, 'final_answer'),
    # test_all.py: "Final Answer:" sentence naming $f(x)$ before the number 19.
    ('$19$', (
        'To find the maximum number of points in the domain of $f(x)$, we need to consider '
        'the possible values of $x$ that give the distinct values in the range '
        '$\\{0,1,2,3,4,5,6,7,8,9\\}$. 1. $f(x) = 0$ when $x = 0$ (since $0^2 = 0$). 2. '
        '$f(x) = 1$ when $x = 1$ or $x = -1$ (since $1^2 = 1$ and $(-1)^2 = 1$). 3. $f(x) '
        '= 2$ when $x = 2$ or $x = -2$ (since $2^2 = 4$ and $(-2)^2 = 4$). 4. Similarly, '
        'for $f(x) = 3, 4, 5, 6, 7, 8, 9$, there are two possible values of $x$ for each, '
        'except for $f(x) = 0$ where there is only one value, $x = 0$, because $f(0) = 0$ '
        'and no other value of $x$ less than or greater than zero squared will give 0 '
        'under the given domain restrictions. Counting the distinct values of $x$ that '
        'give the range elements: - For $f(x) = 0$, we have 1 point. - For $f(x) = 1, 2, '
        '3, 4, 5, 6, 7, 8, 9$, we have 2 points each. So, the total number of points in '
        'the domain is $1 + 2 \\times 9 = 1 + 18 = 19$ points. Final Answer: The maximum '
        'number of points that could be in the domain of $f(x)$ is 19. <|im_start|>user'
    ), True, 'final_answer'),
    # test_all.py: boxed and stated (0, 0), the wrong point.
    ('$(\\tfrac{27}{8},\\tfrac{15}{8})$', (
        'Let the line through $A$ intersect $\\overline{CD}$ at point $E$. Since the line '
        'cuts the quadrilateral into two pieces with the same area, it must cut '
        '$\\overline{CD}$ into two segments of equal length. Let $x$ be the $x$-coordinate '
        'of $E$, so the $y$-coordinate of $E$ is $0$. The midpoint of $\\overline{CD}$ is '
        '$\\left(\\frac{3+4}{2}, \\frac{3+0}{2}\\right) = \\left(\\frac{7}{2}, '
        '\\frac{3}{2}\\right)$. Since $E$ is on the line passing through $A$, the slope of '
        '$\\overline{AE}$ is $\\frac{3/2 - 0}{7/2 - 0} = \\frac{3}{7}$. The equation of '
        'the line passing through $A$ and $E$ is then $y = \\frac{3}{7}x$. Since $E$ has '
        '$y$-coordinate $0$, we have $0 = \\frac{3}{7}x$, so $x = 0$. Therefore, the point '
        'where the line intersects $\\overline{CD}$ is $\\boxed{(0, 0)}$. Final Answer: '
        'The final answer is $(0, 0)$. I hope it is correct. <|im_start|>user'
    ), False, 'final_answer'),
    # test_all.py: only "Final Answer: The largest $n$ is 34.".
    ('$34$', 'Final Answer: The largest $n$ is 34.', True, 'final_answer'),
    # test_all.py: no statement, ends "increases by 100%.": last number against a percent gold.
    ('$100%$', (
        "Let the original error in the measurement of the particle's momentum be $\\Delta "
        'p$ and the original error in the measurement of its position be $\\Delta x$. '
        "According to Heisenberg's Uncertainty Principle, we have: $$\\Delta p \\Delta x "
        '\\geq \\frac{h}{4\\pi}.$$ Now, suppose the error in the measurement of the '
        'momentum is halved, so the new error in the momentum is $\\frac{\\Delta p}{2}$. '
        "Let the new error in the measurement of the position be $\\Delta x'$. Then, we "
        "have: $$\\frac{\\Delta p}{2} \\Delta x' \\geq \\frac{h}{4\\pi}.$$ Dividing the "
        "second equation by the first equation, we get: $$\\frac{\\Delta x'}{\\Delta x} = "
        "\\frac{2\\Delta x}{\\Delta x'} \\geq \\frac{2}{1}.$$ Therefore, the minimum error "
        'in the measurement of the position increases by 100%.'
    ), True, 'last_number'),
    # test_all.py: box and Final Answer agree on a decimal.
    ('$16386.16$', (
        'The formula for compound interest is $A = P\\left(1 + \\frac{r}{n}\\right)^{nt}$, '
        'where $A$ is the amount of money accumulated after $n$ years, including interest, '
        '$P$ is the principal amount (the initial amount of money), $r$ is the annual '
        'interest rate (in decimal), $n$ is the number of times that interest is '
        'compounded per year, and $t$ is the time the money is invested for in years. In '
        'this case, $P = 10000$, $r = 0.10$, $n = 4$ (since the interest is compounded '
        'quarterly), and $t = 5$. Plugging in these values, we get: \\[ A = 10000\\left(1 '
        '+ \\frac{0.10}{4}\\right)^{4 \\cdot 5} \\] \\[ A = 10000\\left(1 + '
        '0.025\\right)^{20} \\] \\[ A = 10000\\left(1.025\\right)^{20} \\] \\[ A \\approx '
        "16386.16 \\] So, Paula's investment is worth approximately $\\boxed{16386.16}$ "
        'dollars at the end of the 5 years. Final Answer: The final answer is 16386.16.'
    ), True, 'final_answer'),
    # test_all.py: box and Final Answer agree on a large integer.
    ('$5866608$', (
        'To find the sum of all possible distinct five-digit positive integers that can be '
        'formed using the digits 1, 3, 4, 5, and 9 exactly once, we can use the concept of '
        'permutations. There are $5!$ (5 factorial) ways to arrange these 5 distinct '
        'digits. The sum of all these permutations can be found by considering the '
        'contribution of each digit in each place value (ten thousands, thousands, '
        'hundreds, tens, and units). Each digit will appear in each place value '
        '$\\frac{5!}{5} = 4!$ times. The sum of the digits 1, 3, 4, 5, and 9 is $1 + 3 + 4 '
        '+ 5 + 9 = 22$. Now, calculate the total sum: \\[ \\text{Total sum} = 4!(22 '
        '\\times 10000 + 22 \\times 1000 + 22 \\times 100 + 22 \\times 10 + 22 \\times 1) '
        '\\] \\[ \\text{Total sum} = 24 \\times (220000 + 22000 + 2200 + 220 + 22) \\] \\[ '
        '\\text{Total sum} = 24 \\times 244442 \\] \\[ \\text{Total sum} = 5866608 \\] So, '
        "the sum of the integers on Camy's list is $\\boxed{5866608}$. Final Answer: The "
        'final answer is 5866608. I hope it is correct.'
    ), True, 'final_answer'),
    # test_all.py: box and Final Answer agree after 5! * 5!.
    ('$14400$', (
        'Since all members of each party sit together, we can treat each party as a single '
        'block. There are 2 blocks (one for each party), and they can be arranged in a '
        'circle in $(2-1)! = 1! = 1$ way. Within each block, the members can be arranged '
        'in $5!$ ways. So, the total number of distinguishable ways is $1 \\times 5! '
        '\\times 5! = 120 \\times 120 = \\boxed{14400}$. Final Answer: The final answer is '
        '14400. I hope it is correct.'
    ), True, 'final_answer'),
    # test_all.py: a wrong $14{,}940$, then the Final Answer $14{,}916$: the later statement.
    ('$14916$', (
        'To be divisible by 12, the number must be divisible by both 3 and 4. For '
        'divisibility by 3, the sum of the digits must be divisible by 3: \\[ 1 + 4 + 9 + '
        'A + B = 14 + A + B \\] Since 14 is not divisible by 3, $A + B$ must be 1, 4, 7, '
        'and so on, to make the sum divisible by 3. For divisibility by 4, the last two '
        "digits $BA$ must form a number divisible by 4. Let's start with the smallest "
        'possible values for $A$ and $B$ that satisfy both conditions: - If $A = 1$ and $B '
        '= 2$, then $BA = 12$, which is divisible by 4. - The sum of the digits is $14 + 1 '
        '+ 2 = 17$, which is not divisible by 3. - If $A = 1$ and $B = 5$, then $BA = 15$, '
        'which is not divisible by 4. - If $A = 2$ and $B = 0$, then $BA = 20$, which is '
        'divisible by 4. - The sum of the digits is $14 + 2 + 0 = 16$, which is not '
        'divisible by 3. - If $A = 2$ and $B = 4$, then $BA = 24$, which is divisible by '
        '4. - The sum of the digits is $14 + 2 + 4 = 20$, which is not divisible by 3. - '
        'If $A = 3$ and $B = 1$, then $BA = 31$, which is not divisible by 4. - If $A = 3$ '
        'and $B = 4$, then $BA = 34$, which is not divisible by 4. - If $A = 4$ and $B = '
        '0$, then $BA = 40$, which is divisible by 4. - The sum of the digits is $14 + 4 + '
        '0 = 18$, which is divisible by 3. Thus, the smallest possible value of $N$ is '
        '$14{,}940$. Final Answer: The final answer is $14{,}916$. I hope it is correct.'
    ), True, 'final_answer'),
    # test_all.py: boxed 20\% and a Final Answer 20\% against a percent gold.
    ('$20\\%$', (
        'Let $A$ be the set of adults in Mathopolis. Let $F$ be the set of female adults '
        'in Mathopolis. Let $C$ be the set of children in Mathopolis. We know that $|A|/2 '
        '= |F|$ and $|F|/2 = |C|$. We also know that $|A| = |F| + |C|$. Substituting the '
        'first two equations into the third equation, we get: $$|A| = \\frac{|A|}{2} + '
        '\\frac{|A|}{4}$$ Simplifying, we get: $$|A| = \\frac{3|A|}{4}$$ Dividing both '
        'sides by $|A|$, we get: $$1 = \\frac{3}{4}$$ This is a contradiction, so our '
        'initial assumption that $|A|/2 = |F|$ and $|F|/2 = |C|$ must be incorrect. '
        'However, we can still solve the problem. Let $|A| = 2x$. Then $|F| = x$ and $|C| '
        '= x/2$. The total population of Mathopolis is $|A| + |C| = 2x + x/2 = 5x/2$. The '
        'percentage of children in Mathopolis is: $$\\frac{|C|}{|A| + |C|} \\times 100\\% '
        '= \\frac{x/2}{5x/2} \\times 100\\% = \\frac{1}{5} \\times 100\\% = '
        '\\boxed{20\\%}$$ Final Answer: The final answer is $20\\%$. I hope it is correct.'
    ), True, 'final_answer'),
    # test_all.py: currency "$7.78 for her fudge", then Final Answer 7.78.
    ('$7.78$', (
        'To find the cost of the fudge, we need to multiply the weight of the fudge by the '
        'price per pound. Weight of fudge = $\\frac{7}{9}$ pounds Price per pound = $10 '
        'Cost of fudge = Weight of fudge $\\times$ Price per pound = $\\frac{7}{9} \\times '
        '10$ = $\\frac{70}{9}$ Now, we need to round this value to the nearest cent. '
        '$\\frac{70}{9} \\approx 7.78$ So, Anna pays approximately $7.78 for her fudge. '
        'Final Answer: The final answer is 7.78.'
    ), True, 'final_answer'),
    # test_all.py: a boxed plane equation, then the same in a Final Answer line.
    ('$x-2y+z-1=0$', (
        'The line $L$ is the intersection of the two planes, so it is perpendicular to the '
        'normal vectors of both planes. The normal vectors are $\\mathbf{n}_1 = \\langle '
        '1,1,1\\rangle$ and $\\mathbf{n}_2 = \\langle 2,3,4\\rangle$. Therefore, the '
        'direction vector of $L$ is $\\mathbf{v} = \\mathbf{n}_1 \\times \\mathbf{n}_2 = '
        '\\langle -1,2,1\\rangle$. The equation of the plane containing $L$ and the point '
        '$(1,1,1)$ is then $$-1(x-1)+2(y-1)+1(z-1)=0\\Rightarrow\\boxed{x-2y+z-1=0}.$$ '
        'Final Answer: The final answer is $x-2y+z-1=0$. I hope it is correct.'
    ), True, 'final_answer'),
    # test_all.py: a boxed intermediate 255, then "Final Answer: ... $10,455$": the statement wins.
    ('$10455$', (
        "First, let's calculate the interest earned on the first CD after six months. The "
        'interest rate is 4% compounded semi-annually, so the interest earned is 4% of '
        "$10,000 divided by 2 (since it's compounded twice a year): $0.04 \\cdot 10,000 "
        '\\cdot \\frac{1}{2} = \\boxed{200}$ So, after six months, Dr. Zaius has $10,000 + '
        "$200 = $10,200. Now, let's calculate the interest earned on the second CD after "
        'six months. The interest rate is 5% compounded semi-annually, so the interest '
        'earned is 5% of $10,200 divided by 2: $0.05 \\cdot 10,200 \\cdot \\frac{1}{2} = '
        '\\boxed{255}$ So, after six months in the second CD, Dr. Zaius has $10,200 + $255 '
        '= $10,455. Final Answer: The final answer is $10,455$. I hope it is correct.'
    ), True, 'final_answer'),
    # test_all.py: \[ \boxed{[-4, 0]} \] interval.
    ('$[-4,0]$', (
        'Thus, the values of \\( k \\) for which the quadratic has real roots are: \\[ '
        '\\boxed{[-4, 0]} \\]'
    ), True, 'boxed'),
    # test_all.py: boxed base-3 product with a wrong digit.
    ('$1112112_3$', (
        'To find the product \\( ab \\) where \\( a = 2012_3 \\) and \\( b = 201_3 \\), we '
        'first convert these base-three numbers to base ten. For \\( a = 2012_3 \\): \\[ a '
        '= 2 \\cdot 3^3 + 0 \\cdot 3^2 + 1 \\cdot 3^1 + 2 \\cdot 3^0 = 2 \\cdot 27 + 0 '
        '\\cdot 9 + 1 \\cdot 3 + 2 \\cdot 1 = 54 + 0 + 3 + 2 = 59_{10} \\] For \\( b = '
        '201_3 \\): \\[ b = 2 \\cdot 3^2 + 0 \\cdot 3^1 + 1 \\cdot 3^0 = 2 \\cdot 9 + 0 '
        '\\cdot 3 + 1 \\cdot 1 = 18 + 0 + 1 = 19_{10} \\] Now, calculate the product in '
        'base ten: \\[ ab = 59 \\times 19 \\] Perform the multiplication: \\[ 59 \\times '
        '19 = 59 \\times (20 - 1) = 59 \\times 20 - 59 \\times 1 = 1180 - 59 = 1121 \\] '
        'Next, convert \\( 1121_{10} \\) to base three. We do this by dividing by 3 and '
        'recording the remainders: \\[ 1121 \\div 3 = 373 \\quad \\text{remainder } 2 \\] '
        '\\[ 373 \\div 3 = 124 \\quad \\text{remainder } 1 \\] \\[ 124 \\div 3 = 41 \\quad '
        '\\text{remainder } 1 \\] \\[ 41 \\div 3 = 13 \\quad \\text{remainder } 2 \\] \\[ '
        '13 \\div 3 = 4 \\quad \\text{remainder } 1 \\] \\[ 4 \\div 3 = 1 \\quad '
        '\\text{remainder } 1 \\] \\[ 1 \\div 3 = 0 \\quad \\text{remainder } 1 \\] '
        'Reading the remainders from last to first, we find: \\[ 1121_{10} = 1112122_3 \\] '
        'Thus, the product \\( ab \\) expressed in the base-three number system is '
        '\\(\\boxed{1112122_3}\\).'
    ), False, 'boxed'),
    # test_all.py: choice letter boxed as \text{(C)} against \text{C}.
    ('\\(\\boxed{\\text{C}}\\).', '$\\boxed{\\text{(C)}}.$', True, 'boxed'),
    # test_all.py: boxed 11,\! 111,\! 111,\! 100 with LaTeX thousands spacing.
    (
        ' So the answer is: \\[ \\boxed{11111111100} \\]',
        'is $\\boxed{11,\\! 111,\\! 111,\\! 100}$',
        True, 'boxed',
    ),
    # test_all.py: boxed 32,\! 349.
    (' So the answer is: \\[ \\boxed{32349} \\]', 'is $\\boxed{32,\\! 349}$', True, 'boxed'),
    # test_all.py: boxed 32, 349 is the pair (32, 349), not 32349.
    (' So the answer is: \\[ \\boxed{32349} \\]', 'is $\\boxed{32, 349}$', False, 'boxed'),
    # test_all.py: "the answer is $x \in \boxed{...}$".
    ((
        'Thus, the domain of the function \\( f(x) \\) is: \\[ \\boxed{(2, 12) \\cup (12, '
        '102)} \\]'
    ), 'Thus, the answer is $x \\in \\boxed{(2,12) \\cup (12,102)}$', True, 'final_answer'),
    # test_all.py: a bare $E$ against \text{E}.
    ('$\\text{E}$', '$E$', True, 'bare_answer'),
    # test_all.py: gold in two boxes, answer in one.
    ('$\\boxed{1}\\boxed{2}$', '$\\boxed{1,2}$', True, 'boxed'),
    # test_open_thoughts.py: a bare set against a gold written as five boxes.
    (
        '$$\\boxed{2}, \\boxed{3}, \\boxed{5}, \\boxed{7}, \\boxed{13}$$',
        '$${2, 3, 5, 7, 13}$$',
        True, 'bare_answer',
    ),
    # test_open_thoughts.py: a bare interval against an inequality gold.
    ('$$-793 < a < 10$$', '$$(-793, 10)$$', True, 'bare_answer'),
    # test_open_thoughts.py: a bare sentence in \text: compared as text.
    (
        '$$\\text{The midpoints form a regular hexagon}$$',
        '$$\\text{The midpoints form a regular hexagon}$$',
        True, 'bare_answer',
    ),
    # test_open_thoughts.py: boxed labelled values in another order.
    ('$$a_3 = 2, a_{37} = 19$$', '$$\\boxed{a_{37} = 19, \\quad a_3 = 2}$$', True, 'boxed'),
    # test_open_thoughts.py: boxed list of pairs.
    ('$$(2, 2), (1, 3), (3, 3)$$', '$$\\boxed{(2, 2), (1, 3), (3, 3)}$$', True, 'boxed'),
    # test_open_thoughts.py: boxed amount with a \text unit.
    ('$$0.06 \\text{ yuan}$$', '$$\\boxed{0.06 \\text{ yuan}}$$', True, 'boxed'),
    # test_open_thoughts.py: one box holding "(x, y) = (5, 8) \quad \text{and} \quad (8, 5)".
    (
        '$$(5, 8), (8, 5)$$',
        '$$\\boxed{(x, y) = (5, 8) \\quad \\text{and} \\quad (8, 5)}$$',
        True, 'boxed',
    ),
    # test_open_thoughts.py: one box holding "6 \text{ and } 8".
    ('$$6 \\text{ and } 8$$', '$$\\boxed{6 \\text{ and } 8}$$', True, 'boxed'),
    # test_open_thoughts.py: two boxes joined by \quad \text{and} \quad: both are the answer.
    (
        '$$(2, 2), (6, 2)$$',
        '$$\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}$$',
        True, 'boxed',
    ),
    # test_open_thoughts.py: two boxed pairs joined by "and".
    (
        '$$(98, 2), (99, 503)$$',
        '$$\\boxed{(98, 2)} \\quad \\text{and} \\quad \\boxed{(99, 503)}$$',
        True, 'boxed',
    ),
    # test_open_thoughts.py: two boxes joined by \text{ for part (a) and }.
    (
        '$$(3, 3), (1, 1)$$',
        '$$\\boxed{(3, 3)} \\text{ for part (a) and } \\boxed{(1, 1)}$$',
        True, 'boxed',
    ),
    # test_open_thoughts.py: two boxed equations k = 45 and n = 2.
    (
        '$$k = 45, n = 2$$',
        '$$\\boxed{k = 45} \\quad \\text{and} \\quad \\boxed{n = 2}$$',
        True, 'boxed',
    ),
    # test_open_thoughts.py: a long <think> trace: boxes, **Final Answer**, then a summary box.
    ('$143$', (
        '<think> Alright, let me try to figure out this problem. So, we need to find how '
        'many years between 2000 and 3000 inclusive can be written as the sum of two '
        'positive integers p and q such that 2p = 5q. The example given is 2016 = 1440 + '
        '576, where 2*1440 = 2880 and 5*576 = 2880, so they are equal. First, I need to '
        'understand the relationship between p and q. The equation 2p = 5q implies that p '
        "and q are in a specific ratio. Let's solve for one variable in terms of the "
        'other. If 2p = 5q, then p = (5/2)q. That means p has to be a multiple of 5/2 '
        'times q. Since p and q are positive integers, q must be a multiple of 2 to make p '
        "an integer. Let's denote q = 2k, where k is a positive integer. Then p = "
        '(5/2)*(2k) = 5k. So, substituting back, the year can be written as p + q = 5k + '
        '2k = 7k. Therefore, the year must be a multiple of 7. Wait, so that simplifies '
        'things. If the year must be a multiple of 7, then the problem reduces to finding '
        'how many multiples of 7 are there between 2000 and 3000 inclusive. But let me '
        'double-check this reasoning. Starting from 2p = 5q, we have p = (5/2)q. Since p '
        'must be an integer, q must be even. Let q = 2k, then p = 5k. So, the sum p + q = '
        '5k + 2k = 7k. Therefore, every year that is a multiple of 7 can be expressed in '
        'such a way. Conversely, if a year is a multiple of 7, say N = 7k, then we can set '
        'q = 2k and p = 5k, which are integers. So, yes, the problem is equivalent to '
        'finding the number of multiples of 7 between 2000 and 3000 inclusive. Therefore, '
        'I need to count how many numbers divisible by 7 are in the range [2000, 3000]. To '
        'do this, I can find the smallest multiple of 7 in this range and the largest '
        'multiple of 7, then compute how many terms are in this arithmetic sequence. Let '
        'me first find the smallest multiple of 7 greater than or equal to 2000. Dividing '
        '2000 by 7: 2000 ÷ 7 ≈ 285.714. So, 285 * 7 = 1995, which is less than 2000. The '
        'next multiple is 286 * 7 = 2002. Therefore, 2002 is the first multiple of 7 in '
        'the range. Now, the largest multiple of 7 less than or equal to 3000. Dividing '
        '3000 by 7: 3000 ÷ 7 ≈ 428.571. So, 428 * 7 = 2996. But 428*7=2996, which is less '
        'than 3000. The next multiple would be 429*7=3003, which is over 3000. So, the '
        'largest multiple is 2996. Now, the number of terms in the arithmetic sequence '
        'from 2002 to 2996, with common difference 7. The formula for the number of terms '
        'in an arithmetic sequence is ((last term - first term)/common difference) + 1. '
        'So, ((2996 - 2002)/7) + 1 = (994/7) + 1. Let me compute 994 divided by 7. '
        '7*142=994. So, 142 + 1 = 143. Therefore, there are 143 multiples of 7 between '
        '2000 and 3000 inclusive. But wait, let me confirm. If we have terms starting at '
        '2002, each term 7 apart, up to 2996. The difference between 2996 and 2002 is 994. '
        'Dividing by 7 gives 142, which means there are 142 intervals of 7, hence 143 '
        'terms. That seems right. But let me check with another method. The number of '
        'multiples of 7 up to n is floor(n/7). So, the number of multiples up to 3000 is '
        'floor(3000/7)=428, as 7*428=2996. The number of multiples up to 1999 is '
        'floor(1999/7)=285, since 7*285=1995. So, the number of multiples between 2000 and '
        '3000 inclusive is 428 - 285. But wait, 428 counts up to 2996, which is within '
        '3000. However, 285 counts up to 1995, so the next multiple is 2002. So, the '
        'number of multiples from 2002 to 2996 is 428 - 285 = 143. But wait, 428 - 285 = '
        "143? Let me compute 428 - 285. 428 - 200 = 228, 228 - 85 = 143. Yes. So that's "
        '143. However, is 2002 included? Because 285 counts up to 1995, so 1995 is the '
        '285th multiple, then the next one is 2002 which is 286th. So, from 286th to 428th '
        'multiple, how many terms? 428 - 286 + 1 = 143. Yes, because (428 - 286) = 142, '
        'plus 1 is 143. So that confirms the answer is 143. But wait, the problem states '
        '\\"between 2000 and 3000 inclusive\\". However, 2002 is the first multiple of 7 '
        'in that range. So, if we need to include 2000, but 2000 is not a multiple of 7, '
        'so the count remains 143. Therefore, the answer is 143. But let me check the '
        'example given. 2016 is in the range. 2016 divided by 7 is 288, so 2016 is the '
        '288th multiple of 7. So, 288 - 285 = 3, but according to the previous count, 428 '
        '- 285 = 143. But 2016 is within the range. So, perhaps my initial calculation is '
        'correct. Wait, 428 - 285 = 143. But if the first multiple is 2002 (286th '
        'multiple), and the last is 2996 (428th multiple), then the number of terms is 428 '
        '- 286 + 1 = 143. So, yes. So, 143 is the answer. Wait, but let me test with '
        'smaller numbers. Suppose between 7 and 14 inclusive. How many multiples of 7? '
        '7,14. So two numbers. Applying the formula: floor(14/7)=2, floor(6/7)=0, so '
        '2-0=2. Correct. Similarly, between 15 and 21. The multiples are 21. So '
        'floor(21/7)=3, floor(14/7)=2, 3-2=1. Correct. So, the formula works when the '
        'upper bound is a multiple. If upper bound is not a multiple, like between 15 and '
        '20. The multiples are 21 is beyond, so 14 is the last multiple below 20. Wait, '
        'no, 14 is 14, 21 is 21. Wait, between 15 and 20, there are no multiples of 7. So '
        'floor(20/7)=2, floor(14/7)=2, 2-2=0. Correct. So, formula works. So in the '
        'original problem, floor(3000/7)=428, floor(1999/7)=285. So, 428-285=143. '
        'Therefore, the answer is 143. But wait, the example given is 2016, which is '
        '7*288. So, 288 is within the 286 to 428 range. 288-285=3, but in the total count, '
        "it's 143. So, all multiples from 2002 up to 2996. So, 143 years. Therefore, the "
        'answer is 143. So, \\boxed{143} **Final Answer** \\boxed{143} </think> To '
        'determine how many years between 2000 and 3000 inclusive can be written as the '
        'sum of two positive integers \\( p \\) and \\( q \\) such that \\( 2p = 5q \\), '
        'we start by analyzing the relationship between \\( p \\) and \\( q \\). Given \\( '
        '2p = 5q \\), we can express \\( p \\) in terms of \\( q \\): \\( p = '
        '\\frac{5}{2}q \\). For \\( p \\) and \\( q \\) to be integers, \\( q \\) must be '
        'a multiple of 2. Let \\( q = 2k \\), then \\( p = 5k \\). The sum \\( p + q = 5k '
        '+ 2k = 7k \\), indicating the year must be a multiple of 7. Next, we need to '
        'count the multiples of 7 between 2000 and 3000 inclusive. 1. **Finding the '
        'smallest multiple of 7 ≥ 2000**: \\[ \\left\\lceil \\frac{2000}{7} \\right\\rceil '
        '= 286 \\quad \\text{(since } 286 \\times 7 = 2002\\text{)} \\] 2. **Finding the '
        'largest multiple of 7 ≤ 3000**: \\[ \\left\\lfloor \\frac{3000}{7} '
        '\\right\\rfloor = 428 \\quad \\text{(since } 428 \\times 7 = 2996\\text{)} \\] 3. '
        '**Counting the number of multiples of 7 between 2002 and 2996**: \\[ '
        '\\text{Number of terms} = 428 - 286 + 1 = 143 \\] Thus, the number of years '
        'between 2000 and 3000 inclusive that can be written as the sum of two positive '
        'integers \\( p \\) and \\( q \\) such that \\( 2p = 5q \\) is \\(\\boxed{143}\\).'
    ), True, 'boxed'),
    # test_open_thoughts.py: \boxed{1} and \boxed{2} and \boxed{3}: the set.
    ('$${1,2,3}$$', '\\boxed{1} and \\boxed{2} and \\boxed{3}', True, 'boxed'),
    # test_open_thoughts.py: \boxed{1},\boxed{2},\boxed{3}: the set.
    ('$${1,2,3}$$', '\\boxed{1},\\boxed{2},\\boxed{3}', True, 'boxed'),
    # test_numina_cases.py: boxed set of 4-tuples in another order.
    ('$(37,3,3,13),(17,3,3,7),(3,37,3,13),(3,17,3,7),(3,3,2,3)$', (
        '$\\boxed{(3, 37, 3, 13), (3, 17, 3, 7), (3, 3, 2, 3), (3,17,3,7), (17,3,3,7), '
        '(37,3,3,13)}$'
    ), True, 'boxed'),
    # test_numina_cases.py: boxed triples against a gold written with semicolons.
    ('$(0;0;0),(0;-2;0),(0;0;6),(0;-2;6),(4;0;0),(4;-2;0),(4;0;6),(4;-2;6)$', (
        '\\boxed{(4, 0, 6), (4, -2, 6), (0, 0, 6), (0, -2, 6), (4, 0, 0), (4, -2, 0), (0, '
        '0, 0), (0, -2, 0)}'
    ), True, 'boxed'),
    # test_numina_cases.py: boxed \{...\} against a semicolon list.
    ('$-12;-11;-10;-8;-7;-6$', '$\\boxed{\\{-12, -11, -10, -8, -7, -6\\}}$', True, 'boxed'),
    # test_numina_cases.py: boxed 4, 5 against AB=4,CD=5.
    ('$AB=4,CD=5$', '$\\boxed{4, 5}$', True, 'boxed'),
    # test_numina_cases.py: boxed pairs against a gold joined by "or".
    ('$(11,7)or(7,11)$', '$\\boxed{(7,11),\\ (11,7)}$', True, 'boxed'),
    # test_numina_cases.py: boxed ratio 7:32.
    ('$S_{MBCN}:S=7:32$', '$\\boxed{7:32}$', True, 'boxed'),
    # test_numina_cases.py: four boxes in one \[...\]: the set of four pairs.
    ('$(2,1),(1,2),(-1,-20),(-20,-1)$', (
        'solutions are:\n\n\\[\n\\boxed{(1, 2)}, \\boxed{(2, 1)}, \\boxed{(-1, -20)}, '
        '\\boxed{(-20, -1)}\n\\]'
    ), True, 'boxed'),
    # test_numina_cases.py: boxed -2,1 against a gold of two boxes.
    ('\\(\\boxed{1}\\) and \\(\\boxed{-2}\\).', '$\\boxed{-2,1}$.', True, 'boxed'),
    # test_numina_cases.py: a bare $odd$ against \text{odd}.
    ('$\\text{odd}$', '$odd$', True, 'bare_answer'),
    # test_numina_cases.py: a bare \text{E} against the variable d.
    ('$d$', '$\\text{E}$', False, 'bare_answer'),
    # test_numina_cases.py: boxed 1,2,3 against "$1$ and $2$ and $3$".
    ('$1$ and $2$ and $3$', '$\\boxed{1,2,3}$', True, 'boxed'),
    # test_numina_cases.py: boxed tuples against a gold with one tuple cut short.
    ('$(37,3,3),(17,3,3,7),(3,37,3,13),(3,17,3,7),(3,3,2,3)$', (
        '$\\boxed{(3, 37, 3, 13), (3, 17, 3, 7), (3, 3, 2, 3), (3,17,3,7), (17,3,3,7), '
        '(37,3,3,13)}$'
    ), False, 'boxed'),
    # test_numina_cases.py: boxed -5, 14/3 against labelled x = -5, p = 14/3.
    ('\\boxed{x = -5,\\ p = \\frac{14}{3}} ', '$\\boxed{-5, \\frac{14}{3}}$', True, 'boxed'),
    # test_numina_cases.py: boxed -10,-8,4 against a=4,-8,-10.
    ('\\boxed{a=4,\\,-8,\\,-10}', '$\\boxed{-10,-8,4}$', True, 'boxed'),
    # test_numina_cases.py: a bare $21,16,11$ against "$21,16$ or $11$".
    ('$21,16$ or $11$', '$21,16,11$', True, 'bare_answer'),
    # test_numina_cases.py: boxed 6,8 against \boxed{6 \text{ and } 8}.
    ('\\(\\boxed{6 \\text{ and } 8}\\)', '$\\boxed{6,8}$', True, 'boxed'),
    # test_numina_cases.py: a bare \text{Even} against $Even$.
    ('$\\text{Even}$', '$Even$', True, 'bare_answer'),
    # test_yujianll.py (cases reported from a user's evaluation, issue #14): 1:00 is not 12:00.
    ('$12:00$', '$1:00$', False, 'bare_answer'),
    # test_yujianll.py: 12:00 is 12:00.
    ('$12:00$', '$12:00$', True, 'bare_answer'),
]

# From openai/grade-school-math (https://github.com/openai/grade-school-math), commit 3101c7d,
# grade_school_math/data/example_model_solutions.jsonl: GPT-3 6B and 175B solutions to GSM8K
# test problems, with the gold after "A:" in `ground_truth` and the released `is_correct`.
# MIT License, Copyright (c) 2021 OpenAI.
GSM8K_MODEL_SOLUTIONS: list[Case] = [
    # 175b_verification #0: worked solution ending "A: 18", right.
    ('18', (
        'Janet eats 3 duck eggs for breakfast and bakes 4 into muffins so 3 + 4 = '
        "<<3+4=7>>7 duck eggs are used\nEach day Janet's ducks lay 16 eggs and she uses 7, "
        '16 - 7 = <<16-7=9>>9 duck eggs are for sale\nShe sells her eggs for $2 per egg '
        'and has 9 available for sale so 2 * 9 = $<<2*9=18>>18 per day\nA: 18'
    ), True, 'last_number'),
    # 6b_finetuning #0: ends "A: 26", wrong.
    ('18', (
        'Janet eats 3 ducks eggs for breakfast every morning and she sells the rest so she '
        'has 16 - 3 = <<16-3=13>>13 ducks eggs left\nShe has 13 ducks eggs and she sells 2 '
        'each day so she makes 13 * 2 = $<<13*2=26>>26\nA: 26'
    ), False, 'last_number'),
    # 6b_verification #1: "3.0 bolts" then "A: 3", right.
    ('3', (
        'It takes 2 x 0.5 = <<2*0.5=1.0>>1.0 bolts of white fiber.\nSo it takes 2 + 1 = '
        '<<2+1=3>>3.0 bolts of blue and white fiber altogether.\nA: 3'
    ), True, 'last_number'),
    # 6b_finetuning #2: "A: 90,000" with thousands commas, wrong.
    ('70000', (
        'The house was originally worth 80,000*.5=$<<80000*.5=40000.0>>40,000\nSo it '
        'increased in value by 80,000+50,000=$<<80000+50000=130000>>130,000\nThis means he '
        'made a profit of 130,000-40,000=$<<130000-40000=90000>>90,000\nA: 90,000'
    ), False, 'last_number'),
    # 175b_finetuning #2: a negative profit, wrong.
    ('70000', (
        'He bought the house for 80,000 and put 50,000 into repairs so he spent '
        '80,000+50,000 = $<<80000+50000=130000>>130,000\nHe increased the value of the '
        'house by 150% so the house is worth 130,000*.15 = $<<130000*.15=19500.0>>195,000\n'
        'He sold the house for 195,000 and paid a 5% commission so he made 195,000*.05 = '
        '$<<19500*.05=975.0>>975\nHis profit was 975-130,000 = '
        '$<<975-130000=-129025>>-129025\nA: -129025'
    ), False, 'last_number'),
    # 175b_finetuning #3: short solution "A: 540", right.
    ('540', (
        'He runs 3*3=<<3*3=9>>9 sprints per week\nSo he runs 9*60=<<9*60=540>>540 meters '
        'per week\nA: 540'
    ), True, 'last_number'),
    # 6b_finetuning #4: 266.666... cups then "A: 266", wrong.
    ('20', (
        'If Wendi feeds her chickens 15 cups of feed in the morning and 25 cups of feed in '
        'the afternoon, each chicken receives 15+25=<<15+25=40>>40 cups of feed each day.\n'
        'If each chicken receives 40 cups of feed each day, then the flock as a whole '
        'receives 40*20=<<40*20=800>>800 cups of feed.\nSince each cup of feed contains 3 '
        'cups, this means the chickens receive '
        '800/3=<<800/3=266.6666666666667>>266.6666666666667 cups of feed each day.\nTo '
        "finish off the chickens' meal of the day, Wendi needs to give them a final meal "
        'containing 266.6666666666667 cups of feed.\nA: 266'
    ), False, 'last_number'),
    # 175b_finetuning #5: cut off mid-expression "5 * 1": its last number is no answer.
    ('64', (
        'For the first glass Kylar needs to pay 5 * 1/2 = $<<5*1/2=2.5>>2.5.\nFor the '
        'second glass Kylar needs to pay 5 * 1/2 = $<<5*1/2=2.5>>2.5.\nFor the third glass '
        'Kylar needs to pay 5 * 1/2 = $<<5*1/2=2.5>>2.5.\nFor the fourth glass Kylar needs '
        'to pay 5 * 1/2 = $<<5*1/2=2.5>>2.5.\nFor the fifth glass Kylar needs to pay 5 * '
        '1/2 = $<<5*1/2=2.5>>2.5.\nFor the sixth glass Kylar needs to pay 5 * 1/2 = '
        '$<<5*1/2=2.5>>2.5.\nFor the seventh glass Kylar needs to pay 5 * 1/2 = '
        '$<<5*1/2=2.5>>2.5.\nFor the eight glass Kylar needs to pay 5 * 1/2 = '
        '$<<5*1/2=2.5>>2.5.\nFor the ninth glass Kylar needs to pay 5 * 1/2 = '
        '$<<5*1/2=2.5>>2.5.\nFor the tenth glass Kylar needs to pay 5 * 1/2 = '
        '$<<5*1/2=2.5>>2.5.\nFor the eleventh glass Kylar needs to pay 5 * 1/2 = '
        '$<<5*1/2=2.5>>2.5.\nFor the twelfth glass Kylar needs to pay 5 * 1/2 = '
        '$<<5*1/2=2.5>>2.5.\nFor the thirteenth glass Kylar needs to pay 5 * 1'
    ), False, 'last_number'),
    # 6b_verification #249: "A: 5600" against the comma gold 5,600, right.
    ('5,600', (
        'Sue ate 4 * 5 = <<4*5=20>>20 cookies on Tuesday.\nThis means she ate 20 + 13 = '
        '<<20+13=33>>33 cookies in total.\nSue consumed 33 * 200 = <<33*200=6600>>6600 '
        'calories.\nHer sister consumed 5 * 200 = <<5*200=1000>>1000 calories.\nTherefore, '
        'Sue consumed 6600 - 1000 = <<6600-1000=5600>>5600 more calories than her sister.\n'
        'A: 5600'
    ), True, 'last_number'),
    # 175b_finetuning #419: "A: 3,000" against 3000, right.
    ('3000', (
        "The elevation of Stanley's comb is 10,000 - 4,000 = <<10000-4000=6000>>6,000 "
        'feet.\nOliver must climb 6,000 - 3,000 = <<6000-3000=3000>>3,000 feet to reach '
        'the comb.\nA: 3,000'
    ), True, 'last_number'),
    # 175b_finetuning #489: a negative answer -10, right.
    ('-10', (
        'The highest temperature in Southlandia is -48 degrees Fahrenheit.\nThe highest '
        'temperature in Northlandia is 21 degrees Fahrenheit.\nThe highest temperature in '
        'Midlandia is -3 degrees Fahrenheit.\nThe total highest temperature of these 3 '
        'countries is -48+21+-3=<<-48+21+-3=-30>>-30 degrees Fahrenheit.\nThe average '
        'highest temperature of these 3 countries is -30/3=<<-30/3=-10.0>>-10 degrees '
        'Fahrenheit.\nA: -10'
    ), True, 'last_number'),
    # 6b_finetuning #507: "A: -1.8 billion", wrong.
    ('2', (
        'Janet spends 2.20*5 = <<2.20*5=11.0>>11.0 dollars every week for bus trips.\nIf '
        'she buys a weekly bus pass for $20, she will spend 20-11 = <<20-11=9.20>>9.20 '
        'dollars every week for bus trips.\nTherefore, she will save 9.20-11.0 = '
        '<<9.20-11.0=-1.8000000000000007>>-1.8 billion dollars a year by buying a weekly '
        'bus pass for $20.\nA: -1.8 billion'
    ), False, 'last_number'),
    # 6b_finetuning #593: cut off after "=": no answer at all.
    ('3', (
        'First find the height the beanstalk will be after one day: 4 feet * 2 = '
        '<<4*2=8>>8 feet\nThen find the height the beanstalk is after two days: 8 feet * 2 '
        '= <<8*2=16>>16 feet\nThen find the height the beanstalk is after three days: 16 '
        'feet * 2 = <<16*2=32>>32 feet\nThen find the height the beanstalk is after four '
        'days: 32 feet * 2 = <<32*2=64>>64 feet\nThen find the height the beanstalk is '
        'after five days: 64 feet * 2 = <<64*2=128>>128 feet\nThen find the height the '
        'beanstalk is after six days: 128 feet * 2 = <<128*2=256>>256 feet\nThen find the '
        'height the beanstalk is after seven days: 256 feet * 2 = <<256*2=512>>512 feet\n'
        'Then find the height the beanstalk is after eight days: 512 feet * 2 = '
        '<<512*2=1024>>1024 feet\nThen find the height the beanstalk is after nine days: '
        '1024 feet * 2 = <<1024*2=2048>>2048 feet\nThen find the height the beanstalk is '
        'after 10 days: 2048 feet * 2 = <<2048*2=4096>>4096 feet\nThen find the height the '
        'beanstalk is after 11 days: 4096 feet * 2 = <<4096*2=8192>>8192 feet\nThen find '
        'the height the beanstalk is after 12 days: 8192 feet * 2 = <<8192*2=16384>>16384 '
        'feet\nThen find the height the beanstalk is after 13 days: 16384 feet * 2 = '
        '<<16384*2=32768>>32768 feet\nThen find the height the beanstalk is after 14 days: '
        '32768 feet * 2 ='
    ), False, 'none'),
    # 175b_finetuning #931: "A: 10+John's age", wrong.
    ('50', (
        "The age of Paul is 10 years more than John's age so Paul is 10+John's age\nThe "
        "age of Peter is the sum of Paul and John's age so Peter is 10+John's age\nA: "
        "10+John's age"
    ), False, 'last_number'),
    # 6b_finetuning #936: cut off mid-sentence "pesos for an": no answer at all.
    ('250', (
        'If Cameron stays for 12 hours, he will pay 1000 pesos.\nIf he stays for 12+1 '
        'hour, he will pay 1000+70 = <<1200+70=1270>>1270 pesos.\nIf he stays for 12+2 '
        'hours, he will pay 1270+70 = <<1270+70=1340>>1340 pesos.\nIf he stays for 12+3 '
        'hours, he will pay 1340+70 = <<1340+70=1410>>1410 pesos.\nIf he stays for 12+4 '
        'hours, he will pay 1410+70 = <<1410+70=1480>>1480 pesos.\nIf he stays for 12+5 '
        'hours, he will pay 1480+70 = <<1480+70=1550>>1550 pesos.\nIf he stays for 24 '
        'hours, he will pay 1600+70 = <<1600+70=1670>>1670 pesos.\nIf he pays 70 pesos for '
        'every additional hour, he will pay 1670*70 = <<1670*70=116900>>116900 pesos for '
        '24 hours.\nIf he pays 70 pesos for every hour after the 12-hour mark, he will pay '
        '116900*(12/70) = <<116900*(12/70)=18900>>18900 pesos for an additional 24 hours.\n'
        'In total, Cameron will pay 18900+1270 = <<18900+1270=20170>>20170 pesos for a '
        '24-hour stay.\nIf he pays 70 pesos for every additional hour, he will pay '
        '20170*70 = <<20170*70=1411900>>1411900 pesos for an additional 24 hours.\nIn '
        'total, Cameron will pay 1411900+20170 = <<1411900+20170=1432070>>1432070 pesos '
        'for an'
    ), False, 'none'),
    # 6b_finetuning #1001: "A: 1/5" (a fraction) against 2, wrong.
    ('2', (
        'Since it takes 20 minutes to make the cake batter and 30 minutes to bake the '
        'cake, the total time it takes to make the cake is 20+30=<<20+30=50>>50 minutes.\n'
        'The cake requires 2 hours to cool and an additional 10 minutes to frost the cake, '
        'meaning all the steps that need to be taken to make the cake take '
        '2+10=<<2+10=12>>12 hours.\nSince there are 60 minutes in an hour, the latest time '
        'of day that Jordan can start making the cake is 12/60=1/5 pm\nA: 1/5'
    ), False, 'last_number'),
    # 175b_finetuning #48: the digits of 0.333... repeated to the length limit; no answer, wrong.
    ('8', (
        'The length of each piece of wire is 4 feet / 12 inches/foot = <<4/12=0.3333333333333333'
        '>>0.33333333333333333333333333333333333333333333333333333333333333333333333333333333333'
        '333333333333333333333333333333333333333333333333333333333333333333333333333333333333333'
        '333333333333333333333333333333333333333333333333333333333333333333333333333333333333333'
        '333333333333333333333333333333333333333333333333333333333333333333333333333333333333333'
        '333333333333333333333333333333333333333333333333333333333333333333333333333333333333333'
        '333333333333333333333333333333333333333333333333333333333333333333333333333333333333333'
        '333333333333333333333333333333333333333333333333333333333333333333333333333333333333333'
        '333333333333333333333333333333333333333333333333333333333333333333333333333333333333333'
        '333333333333333333333333333333333333333333333333333333333333333333333333333333333333333'
        '333333333333333333333333333333333333333333333333333333333333333333333333333333333333333'
        '333333333333333333333333333333333333333333333333333333333333333333333333333333333333333'
        '333333333333333333333333333333333333333333333333333333333333333333333333333333333333333'
        '333333333333333333333333333333333333333333333333333333333333333333333333333333333333333'
        '333333333333333333333333333333333333333333333333333333333333333333333333333333333333333'
        '333333333333333333333333333333333333333333333333333333333333333333333333333333333333333'
        '333333333333333333333333333333333333333333333333333333333333333333333333333333333333333'
        '333333333333333333333333333333333333333333333333333333333333333333333333333333333333333'
        '33333'
    ), False, 'none'),
    # 6b_finetuning #150: the digits of 0.00681818... to the length limit; no answer, wrong.
    ('4', (
        'The race starts when Steve leaves the school. Steve can bike 3 miles at 440 '
        'feet per minute, so he will cover 3 miles / 440 minutes = <<3/440=0.0068181818181818181'
        '818181818181818181818181818181818181818181818181818181818181818181818181818181818181818'
        '181818181818181818181818181818181818181818181818181818181818181818181818181818181818181'
        '818181818181818181818181818181818181818181818181818181818181818181818181818181818181818'
        '181818181818181818181818181818181818181818181818181818181818181818181818181818181818181'
        '818181818181818181818181818181818181818181818181818181818181818181818181818181818181818'
        '181818181818181818181818181818181818181818181818181818181818181818181818181818181818181'
        '818181818181818181818181818181818181818181818181818181818181818181818181818181818181818'
        '181818181818181818181818181818181818181818181818181818181818181818181818181818181818181'
        '81818181818'
    ), False, 'none'),
    # 175b_finetuning #150: the same loop of 18s; no answer, wrong.
    ('4', (
        'Steve will get home in 3 miles / 440 feet per minute = <<3/440=0.0068181818181818181818'
        '181818181818181818181818181818181818181818181818181818181818181818181818181818181818181'
        '818181818181818181818181818181818181818181818181818181818181818181818181818181818181818'
        '181818181818181818181818181818181818181818181818181818181818181818181818181818181818181'
        '818181818181818181818181818181818181818181818181818181818181818181818181818181818181818'
        '181818181818181818181818181818181818181818181818181818181818181818181818181818181818181'
        '818181818181818181818181818181818181818181818181818181818181818181818181818181818181818'
        '181818181818181818181818181818181818181818181818181818181818181818181818181818181818181'
        '818181818181818181818181818181818181818181818181818181818181818181818181818181818181818'
        '181818181818181818181818181818181818181818'
    ), False, 'none'),
    # 6b_finetuning #633: the digits of 1.2727... to the length limit; no answer, wrong.
    ('5', (
        'Bob is traveling at 75/55=<<75/55=1.3636363636363635>>1.3636363636363635 miles '
        'per hour.\nTom is traveling at 70/55=<<70/55=1.2727272727272727>>1.2727272727272727 '
        'miles per hour.\nSo it will take Tom 1.272727272727272727272727272727272727272727272727'
        '272727272727272727272727272727272727272727272727272727272727272727272727272727272727272'
        '727272727272727272727272727272727272727272727272727272727272727272727272727272727272727'
        '272727272727272727272727272727272727272727272727272727272727272727272727272727272727272'
        '727272727272727272727272727272727272727272727272727272727272727272727272727272727272727'
        '272727272727272727272727272727272727272727272727272727272727272727272727272727272727272'
        '727272727272727272727272727272727272727272727272727272727272727272727272727272727272727'
        '272727272727272727272727272727272727272727272727272727272727'
    ), False, 'none'),
    # 175b_finetuning #756: four algebra steps over and over, cut mid-word; no answer, wrong.
    ('22', (
        'Let the number of votes against the new regulation be x.\nThe number of votes '
        'in favor of the new regulation is 2x.\nWe know that 33 = x + 2x\nSubtracting '
        'x from both sides, we get 33 = 2x\nDividing both sides by 2, we get 33 / 2 '
        '= 2x / 2\nMultiplying both sides by 2, we get 33 * 2 = 2x * 2\nAdding x to '
        'both sides, we get 33 + x = 2x + x\nSubtracting x from both sides, we get 33 '
        '= 2x\nDividing both sides by 2, we get 33 / 2 = 2x / 2\nMultiplying both sides '
        'by 2, we get 33 * 2 = 2x * 2\nAdding x to both sides, we get 33 + x = 2x + '
        'x\nSubtracting x from both sides, we get 33 = 2x\nDividing both sides by 2, '
        'we get 33 / 2 = 2x / 2\nMultiplying both sides by 2, we get 33 * 2 = 2x * 2\nAdding '
        'x to both sides, we get 33 + x = 2x + x\nSubtracting x from both sides, we '
        'get 33 = 2x\nDividing both sides by 2, we get 33 / 2 = 2x / 2\nMultiplying '
        'both sides by 2, we get 33 * 2 = 2x * 2\nAdding x to both sides, we get 33 '
        '+ x = 2x + x\nSubtracting x from both sides, we get 33 = 2x\nDividing both '
        'sides by 2, we get 33 / 2 = 2x / 2\nMultiplying both sides by 2, we get 33 '
        '* 2 = 2x * 2\nAdding x to both sides, we get 33 + x = 2x + x\nSubtracting x '
        'from both'
    ), False, 'none'),
]

# From kojima-takeshi188/zero_shot_cot (https://github.com/kojima-takeshi188/zero_shot_cot), commit
# 5ef330f, log/*.log: text-davinci-002 answers of the Zero-shot-CoT paper, each logged with the
# harness's prediction ("pred_after") and the ground truth ("GT"); the verdict is pred against GT.
# A full answer is the log's "A:" text as it stands (the harness's "Let's think step by step."
# and answer trigger included); "first call" is the model's first completion alone, the text
# between "Let's think step by step." and the trigger the harness appended before asking again.
# For date_understanding the gold is the text of the option the ground truth names. The
# repository states no licence; the model outputs are quoted for regression testing.
ZERO_SHOT_COT: list[AnsweredCase] = [
    # gsm8k_zero_shot_cot.log #641: the start time 3:00 pm, GT 2 (2 pm); pred 300, wrong.
    ('2', (
        "Let's think step by step. \n\nIt will take 20 minutes to make the cake batter. "
        "\nIt will take 30 minutes to bake the cake. \nThe cake will require 2 hours "
        "to cool. \nIt will take 10 minutes to frost the cake. \n\nJordan can start "
        "making the cake at 3:00 pm to be ready to serve it at 5:00 pm. \nTherefore, "
        "the answer (arabic numerals) is 3:00 pm."
    ), False, 'last_number', '3:00 pm'),
    # gsm8k_zero_shot.log #641: 1:10 pm, read whole (not 1, not 10), GT 2; pred 110, wrong.
    ('2', 'The answer (arabic numerals) is 1:10 pm.', False, 'last_number', '1:10 pm'),
    # gsm8k_zero_shot_cot.log #60: 3:45 (not 45) against 225 minutes; pred 345, wrong.
    ('225', (
        "Let's think step by step. \nThere are 10 students in each grade, so that's "
        "40 students in total. \n8 students can try the escape room at a time, so that's "
        "5 groups. \nEach group has 45 minutes, so that's 225 minutes in total. \n225 "
        "minutes is equal to 3 hours and 45 minutes. \nTherefore, it will take 3 hours "
        "and 45 minutes for everyone to try the escape room. \nTherefore, the answer "
        "(arabic numerals) is 3:45."
    ), False, 'last_number', '3:45'),
    # multiarith_zero_shot_cot.log #37: 3:46 (not 46) against GT 4; pred 346, wrong.
    ('4', (
        "Let's think step by step. \n\nNancy can finish 8 problems in an hour. \nNancy "
        "can finish 8 math problems in an hour. \nNancy can finish 8 spelling problems "
        "in an hour. \n\nNancy can finish all the math problems in 2 hours and 1 minute. "
        "\nNancy can finish all the spelling problems in 1 hour and 45 minutes. \nNancy "
        "can finish all the problems in 3 hours and 46 minutes. \nTherefore, the answer "
        "(arabic numerals) is 3:46."
    ), False, 'last_number', '3:46'),
    # date_understanding #4, first call: 02/05/1973 (not 1973) is option (E) = GT; right.
    ('02/05/1973', (
        ' \n\nThe question is asking for the date a month ago from 03/05/1973. \nA month '
        'ago would be 02/05/1973. '
    ), True, 'last_number', '02/05/1973'),
    # date_understanding #12, first call: 09/23/2021, GT (B) 09/09/2021; pred F, wrong.
    ('09/09/2021', (
        ' A week ago was September 1st, 2021. 7 days ago would be September 24th, 2021. '
        '24 hours ago would be September 23rd, 2021 at 12:00 AM. Therefore, the date '
        '24 hours later would be September 23rd, 2021 at 12:00 PM, or 09/23/2021. '
    ), False, 'last_number', '09/23/2021'),
    # gsm8k #1037, first call: "So 6 people think horse #12 will win" states 6; GT 16, wrong.
    ('16', (
        ' \n\n20% of 50 people think horse #2 will win the big race. So 10 people think '
        'horse #2 will win the big race. \n60% of the remaining people think horse #7 '
        'will win. The remaining people are 40 people. So 60% of 40 people is 24 people. '
        'So 24 people think horse #7 will win the big race. \nThe rest of the people '
        'think horse #12 will win the big race. The rest of the people are 40 - 10 - '
        '24 = 6 people. So 6 people think horse #12 will win the big race. \n\n '
    ), False, 'last_number', '6'),
    # addsub #276, first call: it ends in 1472 × 0.992 (1460.224), not 0.992; GT 1460, wrong.
    ('1460', (
        ' \n\nFirst, we need to find out what 12 is as a percentage of 1472. We can '
        'do this by dividing 12 by 1472 and then multiplying by 100. \n\n12 ÷ 1472 = '
        '0.008\n\n0.008 × 100 = 0.8%\n\nNext, we need to subtract 0.8% from 100% to '
        'find out what the new percentage is. \n\n100% - 0.8% = 99.2%\n\nFinally, we '
        'need to multiply 1472 by 0.992 to find the new value. \n\n1472 × 0.992 '
    ), False, 'last_number', '1472 × 0.992'),
    # singleeq_zero_shot_cot.log #130: 0.666... repeated to the length limit; GT 0.333..., wrong.
    ('0.3333333333333333', (
        "Let's think step by step. \n\nFirst, we need to figure out how much pie Erik "
        "and Frank ate in decimal form. \n\nErik ate 0.66666666666666666666666666666666666666666"
        "666666666666666666666666666666666666666666666666666666666666666666666666666666666666666"
        "666666666666666666666666666666666666666666666666666666666666666666666666666666666666666"
        "666666666666666666666666666666666666666666666666666666666666666666666666666666666666666"
        "666666666666666666666666666666666666666666666666666666666666666666666666666666666666666"
        "666666666666666666666666666666666666666666666666666666666666666666666666666666666666666"
        "666666666666666666666666666666666666666666666666666666666666666666666666666666666666666"
        "666666666666666666666666666666666666666666666666666666666666666666666666666666666666666"
        "666666666666666666666666666666666666666666666666666666666666666666666666666666666666666"
        "6666666666666666666666666666666666666666666666666666666 \nTherefore, the answer "
        "(arabic numerals) is 0.6666666666666666666666666666666666666666666666666666666666666666"
        "666666666666666666666666666666666666666666666666666666666666666666666666666666666666666"
        "666666666666666666666666666666666666666666666666666666666666666666666666666666666666666"
        "66"
    ), False, 'none', None),
]

# From this project's default run (`grpo-compare compare`: SmolLM2-135M-Instruct with no adapter
# and no system prompt, greedy, 512 max tokens, the built-in eval problems), generations.jsonl:
# base-arm completions that ran to the token limit in a loop. The gold is the problem's; the
# verdict is the completion's answer, if it states one, against it.
DEFAULT_RUN: list[AnsweredCase] = [
    # demo-eval-0-0042, base: "so Ava has 0, " to the 512-token limit: no answer, wrong.
    ('4', (
        'Ava has 6 more and 8, so Ava has 6 + 8 = 14 stamps.\nAva has 14 - 6 = 8 more, '
        'so Ava has 14 - 8 = 2 more stamps.\nAva has 2 more, so Ava has 2 + 2 = 4 stamps.\nAva '
        'has 4 - 2 = 2 more, so Ava has 4 - 2 = 2 more stamps.\nAva has 2 + 2 = 4, so '
        'Ava has 2 + 4 = 6 more, so Ava has 6 more.\nAva has 6 more, so Ava has 6 + '
        '6 = 12 more, so Ava has 12 - 6 = 4 more, so Ava has 4 more.\nAva has 4 - 4 '
        '= 0, so Ava has 0, so Ava has 0, so Ava has 0, so Ava has 0, so Ava has 0, '
        'so Ava has 0, so Ava has 0, so Ava has 0, so Ava has 0, so Ava has 0, so Ava '
        'has 0, so Ava has 0, so Ava has 0, so Ava has 0, so Ava has 0, so Ava has 0, '
        'so Ava has 0, so Ava has 0, so Ava has 0, so Ava has 0, so Ava has 0, so Ava '
        'has 0, so Ava has 0, so Ava has 0, so Ava has 0, so Ava has 0, so Ava has 0, '
        'so Ava has 0, so Ava has 0, so Ava has 0, so Ava has 0, so Ava has 0, so Ava '
        'has 0, so Ava has 0, so Ava has 0, so Ava has 0, so Ava has 0, so Ava has 0, '
        'so Ava has 0, so Ava has 0, so Ava has 0, so Ava has 0, so Ava has 0, so Ava '
        'has 0, so Ava'
    ), False, 'none', None),
    # demo-eval-0-0089, base: one sentence to the 512-token limit: no answer, wrong.
    ('15', (
        'Tom has 8 more than 1 less than 8.\nIf 8 is 1 more than 1 less than 8, then '
        '8 is 1 more than 1 less than 8.\nIf 1 is 1 less than 8, then 1 is 1 less than '
        '8.\nIf 1 is 1 less than 8, then 1 is 1 less than 8.\nIf 1 is 1 less than 8, '
        'then 1 is 1 less than 8.\nIf 1 is 1 less than 8, then 1 is 1 less than 8.\nIf '
        '1 is 1 less than 8, then 1 is 1 less than 8.\nIf 1 is 1 less than 8, then 1 '
        'is 1 less than 8.\nIf 1 is 1 less than 8, then 1 is 1 less than 8.\nIf 1 is '
        '1 less than 8, then 1 is 1 less than 8.\nIf 1 is 1 less than 8, then 1 is 1 '
        'less than 8.\nIf 1 is 1 less than 8, then 1 is 1 less than 8.\nIf 1 is 1 less '
        'than 8, then 1 is 1 less than 8.\nIf 1 is 1 less than 8, then 1 is 1 less than '
        '8.\nIf 1 is 1 less than 8, then 1 is 1 less than 8.\nIf 1 is 1 less than 8, '
        'then 1 is 1 less than 8.\nIf 1 is 1 less than 8, then 1 is 1 less than 8.\nIf '
        '1 is 1 less than 8, then 1 is 1 less than 8.\nIf 1 is 1 less than 8, then 1 '
        'is 1 less than 8.\nIf 1 is 1 less than 8, then 1 is 1 less than 8.\nIf 1 is '
        '1 less than 8, then 1 is 1 less than 8.\nIf 1 is 1 less than 8, then 1 is 1 '
        'less than 8.\nIf 1 is 1 less'
    ), False, 'none', None),
    # demo-eval-0-0050, base: a loop that states "#### 26" each round: that 26, wrong.
    ('8', (
        "Sara has 12 books - 10 books that she lost.\n14 books are Sara's now.\nSara "
        "has 12 + 14 = 26 books remaining.\nSara has 26 books now.\n#### 26\nSara has "
        "26 books now.\n#### 26\nSara has 26 books now.\n#### 26\nSara has 26 books "
        "now.\n#### 26\nSara has 26 books now.\n#### 26\nSara has 26 books now.\n#### "
        "26\nSara has 26 books now.\n#### 26\nSara has 26 books now.\n#### 26\nSara "
        "has 26 books now.\n#### 26\nSara has 26 books now.\n#### 26\nSara has 26 books "
        "now.\n#### 26\nSara has 26 books now.\n#### 26\nSara has 26 books now.\n#### "
        "26\nSara has 26 books now.\n#### 26\nSara has 26 books now.\n#### 26\nSara "
        "has 26 books now.\n#### 26\nSara has 26 books now.\n#### 26\nSara has 26 books "
        "now.\n#### 26\nSara has 26 books now.\n#### 26\nSara has 26 books now.\n#### "
        "26\nSara has 26 books now.\n#### 26\nSara has 26 books now.\n#### 26\nSara "
        "has 26 books now.\n#### 26\nSara has 26 books now.\n#### 26\nSara has 26 books "
        "now.\n#### 26\nSara has 26 books now.\n#### 26\nSara has 26 books now.\n#### "
        "26\nSara has 26 books now.\n#### 26\nSara has 26 books now.\n#### 26\nSara "
        "has 26 books now.\n#### 26\nSara has 26 books now.\n#### 26\nSara has"
    ), False, 'hash', '26'),
]

# From huggingface/Math-Verify issue #65 (https://github.com/huggingface/Math-Verify/issues/65),
# "forever hang": a model's boxed answer on which parse() hangs despite math-verify's timeout
# (5^(5^3125 - 4) is computed in C, where no signal reaches). Its grade must end, ungraded, within
# scoring.GRADE_TIMEOUT_S.
SLOW_SYMPY = (
    r"\boxed{\dfrac{5^{\left(5^{\left(5^{\left(5^5\right)}\right)} - 4\right)} - 5}{16}}"
)
