/**
 * An accessible modal dialog on the native `<dialog>` element: `showModal()` makes the rest of the page inert,
 * Tab and Shift+Tab cycle inside the dialog, Escape calls `onCancel`, and focus returns to where it was when
 * the dialog closes. The title labels it; `description` (an element id inside) describes it.
 */
import { type ReactNode, type RefObject, useEffect, useId, useLayoutEffect, useRef } from "react";

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

export interface DialogProps {
  open: boolean;
  title: ReactNode;
  /** Escape, or the dialog being dismissed by the browser. */
  onCancel: () => void;
  children: ReactNode;
  /** The element focused when the dialog opens (default: its first focusable element). */
  initialFocus?: RefObject<HTMLElement | null>;
  /** Extra class on the `<dialog>`. */
  className?: string;
  /** `alertdialog` for a decision the user must take (a signature request). */
  role?: "dialog" | "alertdialog";
  /** id of the element inside that describes the dialog. */
  describedBy?: string;
}

export function Dialog({ open, title, onCancel, children, initialFocus, className, role, describedBy }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const onCancelRef = useRef(onCancel);
  onCancelRef.current = onCancel;

  // A layout effect: the dialog is modal and focused in the same task that renders it, so no keystroke lands
  // on the page behind it in between.
  useLayoutEffect(() => {
    const dialog = ref.current;
    if (!dialog || !open) return;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (!dialog.open) dialog.showModal();
    const target = initialFocus?.current ?? dialog.querySelector<HTMLElement>(FOCUSABLE);
    target?.focus();
    return () => {
      if (dialog.open) dialog.close();
      if (opener?.isConnected) opener.focus();
    };
  }, [open, initialFocus]);

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    const cancel = (event: Event) => {
      event.preventDefault(); // we close it ourselves, through state
      onCancelRef.current();
    };
    const trap = (event: KeyboardEvent) => {
      if (event.key !== "Tab") return;
      const items = Array.from(dialog.querySelectorAll<HTMLElement>(FOCUSABLE)).filter(
        (el) => el.offsetParent !== null || el === document.activeElement,
      );
      const first = items[0];
      const last = items[items.length - 1];
      if (!first || !last) {
        event.preventDefault();
        return;
      }
      const active = document.activeElement;
      if (event.shiftKey && (active === first || !dialog.contains(active))) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && (active === last || !dialog.contains(active))) {
        event.preventDefault();
        first.focus();
      }
    };
    dialog.addEventListener("cancel", cancel);
    dialog.addEventListener("keydown", trap);
    return () => {
      dialog.removeEventListener("cancel", cancel);
      dialog.removeEventListener("keydown", trap);
    };
  }, []);

  return (
    <dialog
      ref={ref}
      className={`dialog${className ? ` ${className}` : ""}`}
      role={role === "alertdialog" ? "alertdialog" : undefined}
      aria-modal="true"
      aria-labelledby={titleId}
      aria-describedby={describedBy}
    >
      {open && (
        <>
          <h2 id={titleId} className="dialog-title">
            {title}
          </h2>
          {children}
        </>
      )}
    </dialog>
  );
}
