"""A report as JUnit XML, the format CI servers read: ``fail`` is a failure,
``inconclusive`` a skipped test (with its reason), each case's frames its output."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from .verdicts import Report, Verdict

__all__ = ["to_junit"]


def to_junit(report: Report, suite: str = "browser-ocpp") -> str:
    summary = report.summary()
    root = ET.Element("testsuites", name=suite)
    element = ET.SubElement(
        root,
        "testsuite",
        name=f"{suite} {report.protocol}",
        tests=str(summary["total"]),
        failures=str(summary["fail"]),
        skipped=str(summary["inconclusive"]),
        errors="0",
        time=f"{sum(case.duration_s for case in report.cases):.3f}",
    )
    ET.SubElement(ET.SubElement(element, "properties"), "property", name="csms", value=report.csms)
    for case in report.cases:
        name = f"{case.id}: {case.title}"
        test = ET.SubElement(
            element,
            "testcase",
            classname=f"{suite}.{report.protocol}",
            name=name,
            time=f"{case.duration_s:.3f}",
        )
        if case.verdict is Verdict.FAIL:
            failure = ET.SubElement(test, "failure", message=case.reason, type="fail")
            failure.text = case.clause and f"clause: {case.clause}"
        elif case.verdict is Verdict.INCONCLUSIVE:
            ET.SubElement(test, "skipped", message=f"inconclusive: {case.reason}")
        lines = [f"{step.verdict}: {step.name} {step.reason}".rstrip() for step in case.steps]
        lines += [str(frame) for frame in case.frames]
        ET.SubElement(test, "system-out").text = "\n".join(lines)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
